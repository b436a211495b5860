"""What each ``digitgan`` command calls, once cli/main.py has parsed its flags: one library call
each, imported when the command runs (so that ``digitgan --help`` stays fast)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digitgan.basics.errors import UserError
from digitgan.basics.safe_output import check_output_file


def resolve_model(args: argparse.Namespace) -> None:
    """Point ``args.run_dir`` at the shipped model's folder for ``--pretrained NAME``; exactly
    one of a run folder and --pretrained (or evaluate's --samples) is given, and the run
    folders named exist: checked before PyTorch is imported, so a typo answers at once."""
    from digitgan.runs.run_folder import require_run_dir

    if hasattr(args, "pretrained"):
        _pretrained_or_run(args)
    given = [
        getattr(args, "run_dir", None),
        getattr(args, "resume", None),
        *(getattr(args, "run_dirs", None) or []),
    ]
    for path in given:
        if path is not None:
            require_run_dir(path)


def _pretrained_or_run(args: argparse.Namespace) -> None:
    if args.pretrained is not None:
        from digitgan.runs.shipped import pretrained_dir

        if args.run_dir is not None:
            raise UserError(
                f"pass a run folder or --pretrained, not both ({args.run_dir} and {args.pretrained})"
            )
        args.run_dir = pretrained_dir(args.pretrained)
    elif args.run_dir is None and getattr(args, "samples", None) is None:
        raise UserError(
            "pass a run folder such as runs/00001-cdcgan, or --pretrained for a model that ships with "
            "digitgan (digitgan pretrained lists them)"
        )


def cmd_train(args: argparse.Namespace) -> None:
    from digitgan.config.fields import flag_name, flagged
    from digitgan.config.presets import make_config
    from digitgan.config.train_config import TrainConfig
    from digitgan.evaluation.scores import make_epoch_evaluator as evaluator  # for --eval-every
    from digitgan.training.loop import train

    fields = flagged(TrainConfig)  # every setting's flag, none by hand
    if args.resume is not None:
        # where to continue (--device) is not part of the recipe; everything else is
        given = [flag_name(f) for f in fields if f.name != "device" and getattr(args, f.name) is not None]
        given += ["--preset"] if args.preset != "seed" else []
        if given:
            raise UserError(f"--resume continues a run with its own config; drop {', '.join(given)}")
        train(None, progress=args.progress, resume=args.resume, device=args.device, epoch_evaluator=evaluator)
        return
    cfg = make_config(args.preset, **{f.name: getattr(args, f.name) for f in fields})
    train(cfg, progress=args.progress, epoch_evaluator=evaluator)


def cmd_sample(args: argparse.Namespace) -> None:
    from digitgan.api.generator import Generator
    from digitgan.generation.sampling import check_sample_request, write_samples

    n = args.n * 10 if args.per_digit else args.n
    check_sample_request(args.n, args.out, args.per_digit, args.force)
    generator = Generator.from_run(args.run_dir, args.device, args.raw, args.truncation)
    generator.name = args.pretrained or str(args.run_dir)  # errors name the model as typed
    as_uint8 = args.out.suffix == ".npz"
    images, labels, nrow = generator.draw(args.n, args.digit, args.seed, args.per_digit, as_uint8)
    write_samples(images, args.out, labels, nrow=nrow or None)
    print(f"digitgan: wrote {n} digits to {args.out}")


def cmd_evaluator(args: argparse.Namespace) -> None:
    from digitgan.evaluation.classifier import cached_evaluator_path, train_evaluator

    if args.dataset == "mnist" and not args.evaluator:
        raise UserError(
            "MNIST's evaluator ships with digitgan (every figure is measured with it); "
            "pass --evaluator PATH to train another, and --evaluator PATH to measure with it"
        )
    path = args.evaluator or cached_evaluator_path(args.dataset)
    if path.exists() and not args.force:
        raise UserError(
            f"an evaluator already exists at {path}; pass --force to train a new one in its place"
        )
    train_evaluator(
        args.data_root, path, epochs=args.epochs, seed=args.seed, limit=args.limit, dataset=args.dataset
    )


def check_cas_request(args: argparse.Namespace, labels) -> None:
    """--cas needs labelled digits; --cas-n draws them from a run, so it needs --cas and a run."""
    from digitgan.evaluation.cas import require_labels

    if not args.cas:
        raise UserError("--cas-n sets how many digits --cas learns from; add --cas")
    if args.cas_n and args.samples:
        raise UserError("--cas-n draws digits from a run; an .npz is scored as it is (drop --cas-n)")
    require_labels(labels)


def digits_to_evaluate(args: argparse.Namespace):
    """What evaluate scores: an .npz's digits, or --n drawn from a run with --seed; with what
    they are (name, data root, dataset, source, where the metrics go) and, for a run, a
    function that draws N digits the same way (for --cas-n)."""
    from digitgan.evaluation.scores import check_n, load_samples
    from digitgan.models.draw import generate, sample_labels
    from digitgan.runs.checkpoint import load_generator

    if args.samples:
        if args.truncation is not None:
            raise UserError(
                "--truncation sets the noise a run draws digits from; --samples are drawn already"
            )
        images, labels = load_samples(args.samples)
        source = {"samples": str(args.samples)}
        about = dict(name=args.samples.name, data_root=args.data_root, dataset=args.dataset or "mnist")
        return images, labels, {**about, "source": source, "out": args.out}, None
    check_n(args.n)
    G, cfg = load_generator(args.run_dir, truncation=args.truncation)
    if args.dataset is not None and args.dataset != cfg.dataset:
        raise UserError(
            f"{args.run_dir} was trained on {cfg.dataset}; it is measured against {cfg.dataset} (drop --dataset)"
        )

    def draw(n: int):
        labels = sample_labels(cfg, n)
        return generate(G, n, args.seed, cfg.latent_dim, labels, as_uint8=True)[:, 0], labels

    images, labels = draw(args.n)
    about = dict(name=args.run_dir.name, data_root=args.data_root or cfg.data_root, dataset=cfg.dataset)
    source = {**model_source(args), "seed": args.seed, "truncation": G.truncation}
    return images, labels, {**about, "source": source, "out": default_metrics_path(args)}, draw


def model_source(args: argparse.Namespace) -> dict:
    """What was measured, as the metrics file records it: the shipped model's name, or the run."""
    return {"pretrained": args.pretrained} if args.pretrained else {"run": str(args.run_dir)}


def default_metrics_path(args: argparse.Namespace):
    """--out, else the run folder's metrics.json; a shipped model's card is never rewritten."""
    return args.out or (None if args.pretrained else args.run_dir / "metrics.json")


def cmd_evaluate(args: argparse.Namespace) -> None:
    import json
    import time

    from digitgan.basics.files import atomic_write_bytes
    from digitgan.evaluation.scores import format_table, score_against_floor
    from digitgan.runs.checkpoint import is_cyclegan_run

    start = time.perf_counter()
    if args.run_dir is not None and is_cyclegan_run(args.run_dir):
        evaluate_cyclegan(args)
        return
    images, labels, about, draw = digits_to_evaluate(args)
    out, data_root, dataset = about["out"], about["data_root"], about["dataset"]
    if args.cas or args.cas_n:
        check_cas_request(args, labels)  # before anything is scored or trained
    if out is not None:
        check_output_file(out, "--out", (".json",), args.force or args.out is None)
    metrics, floor_metrics, evaluator = score_against_floor(
        images, labels, data_root, dataset, args.evaluator, args.seed
    )
    n = images.shape[0]
    print(format_table(metrics, floor_metrics, about["name"]))
    cas = None
    if args.cas:
        from digitgan.evaluation.cas import classification_accuracy_score, format_cas

        if args.cas_n and args.cas_n != n:
            images, labels = draw(args.cas_n)
        cas = classification_accuracy_score(images, labels, data_root, seed=args.seed)
        print(format_cas(cas))
    seconds = time.perf_counter() - start
    print(
        f"digitgan: n = {n:,}, {dataset} evaluator {evaluator.path} (test accuracy {evaluator.accuracy:.2%}), {seconds:.1f} s"
    )
    if out is not None:
        report = {
            **about["source"],
            "dataset": dataset,
            "n": n,
            "evaluator": evaluator.describe(),
            "metrics": metrics,
            "real_floor": floor_metrics,
            "seconds": seconds,
            **({"cas": cas} if cas is not None else {}),
        }
        atomic_write_bytes(out, (json.dumps(report, indent=2) + "\n").encode())
        print(f"digitgan: wrote {out}")


def evaluate_cyclegan(args: argparse.Namespace) -> None:
    import json
    import time

    from digitgan.basics.files import atomic_write_bytes
    from digitgan.cyclegan.cycle_scores import evaluate_translation, format_translation
    from digitgan.evaluation.scores import check_n

    start = time.perf_counter()
    if args.dataset is not None:
        raise UserError(
            f"{args.run_dir} is a cyclegan run: it is measured in both directions, against MNIST "
            "and the typed digits (drop --dataset)"
        )
    check_n(args.n)
    out = default_metrics_path(args)
    if out is not None:
        check_output_file(out, "--out", (".json",), args.force or args.out is None)
    report = evaluate_translation(args.run_dir, args.data_root, args.evaluator, args.n, args.seed)
    report = {**model_source(args), **{k: v for k, v in report.items() if k != "run"}}
    report["seconds"] = time.perf_counter() - start
    print(format_translation(report))
    if out is not None:
        atomic_write_bytes(out, (json.dumps(report, indent=2) + "\n").encode())
    print(f"digitgan: {report['seconds']:.1f} s" + (f"; wrote {out}" if out is not None else ""))


def warn(message: str) -> None:
    """One line on stderr: the command did its job, but part of its input needs a look."""
    print(f"digitgan: warning: {message}", file=sys.stderr)


def cmd_handwrite(args: argparse.Namespace) -> None:
    from digitgan.cyclegan.translation import handwrite

    written = handwrite(args.run_dir, args.text, args.out, args.font, args.seed, args.compare, args.force)
    print(f"digitgan: wrote {args.out} ({args.text!r} in {written.font}, written by {args.run_dir.name})")
    if written.unreadable:
        where = ", ".join(str(i) for i in written.unreadable)
        warn(
            f"{written.font} prints the characters at {where} so that they cannot be read as digits; their handwriting is unreliable"
        )


def cmd_translate(args: argparse.Namespace) -> None:
    from digitgan.cyclegan.reader import describe
    from digitgan.cyclegan.translation import translate_file

    n, bad = translate_file(args.run_dir, args.samples, args.to, args.out, args.force)
    print(f"digitgan: translated {n:,} digits into {args.to}: {args.out}")
    if bad:
        warn(
            f"{describe(bad, n)} cannot be read as typed digits (boxed, inverted or not a digit); "
            "each was translated into whatever digit the translator saw in it: check or drop them"
        )


def cmd_export(args: argparse.Namespace) -> None:
    from digitgan.generation.export import export_onnx

    done = export_onnx(args.run_dir, args.onnx, args.to, args.seed, args.force)
    inputs = ", ".join(f"{k} (B, {', '.join(map(str, v))})" for k, v in done["inputs"].items())
    print(
        f"digitgan: wrote {args.onnx} ({done['bytes']:,} bytes): {inputs} -> images (B, 1, 28, 28); "
        f"onnxruntime matches PyTorch within {done['max_abs_diff']:.1e}"
    )


def cmd_interpolate(args: argparse.Namespace) -> None:
    from digitgan.generation.sampling import check_walk, interpolate, strip_and_gif
    from digitgan.runs.checkpoint import load_generator

    G, cfg = load_generator(args.run_dir)
    check_walk(cfg, args.digits, str(args.run_dir))
    kind, (a, b) = ("digits", args.digits) if args.digits is not None else ("seeds", args.seeds)
    default = Path(f"interpolation-{kind}-{a}-{b}.png")
    png = args.out or (default if args.pretrained else args.run_dir / default)
    force = args.force or (args.out is None and not args.pretrained)  # a run's own view is rewritten
    check_output_file(png, "--out", (".png",), force)
    check_output_file(png.with_suffix(".gif"), "--out's GIF", (".gif",), force)
    images = interpolate(
        G, cfg.latent_dim, args.steps, seeds=args.seeds, digits=args.digits, seed=args.seed, digit=args.digit
    )
    strip_and_gif(images, png, png.with_suffix(".gif"))
    print(f"digitgan: wrote {png} and {png.with_suffix('.gif')}")


def cmd_serve(args: argparse.Namespace) -> None:
    from digitgan.runs.shipped import NAMES, pretrained_dir
    from digitgan.serving.app import run_server

    run_server(
        args.run_dirs or [pretrained_dir(name) for name in NAMES],
        args.host,
        args.port,
        args.limit_concurrency,
        args.threads,
        args.max_connections,
    )


def cmd_fonts(args: argparse.Namespace) -> None:
    from digitgan.data.typed import font_report

    print(font_report())


def cmd_report(args: argparse.Namespace) -> None:
    from digitgan.evaluation.report import write_report

    print(f"digitgan: wrote {write_report(args.run_dir)}")


def cmd_dataset(args: argparse.Namespace) -> None:
    from digitgan.generation.synthetic import write_dataset

    made = write_dataset(args.run_dir, args.out, args.n, args.test_n, args.seed, args.force)
    print(
        f"digitgan: wrote {made['train']:,} training and {made['test']:,} test digits of {made['preset']} "
        f"to {args.out / 'MNIST' / 'raw'} (MNIST's IDX format; see {args.out / 'README.txt'})"
    )


def cmd_pretrained(args: argparse.Namespace) -> None:
    from digitgan.runs.shipped import shipped_table

    print(shipped_table())


COMMANDS = {
    "train": cmd_train,
    "sample": cmd_sample,
    "interpolate": cmd_interpolate,
    "report": cmd_report,
    "fonts": cmd_fonts,
    "handwrite": cmd_handwrite,
    "translate": cmd_translate,
    "evaluator": cmd_evaluator,
    "evaluate": cmd_evaluate,
    "export": cmd_export,
    "serve": cmd_serve,
    "dataset": cmd_dataset,
    "pretrained": cmd_pretrained,
}
