"""The ``digitgan`` command: flags -> config -> one library call.

    digitgan train --preset seed --data-root ../shared/data
    digitgan sample runs/00001-seed --n 100 --seed 0 --out digits.png

Bad input ends with one line ``digitgan: error: ...`` and exit status 2, before anything is
written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from digitgan.config import MAX_SEED
from digitgan.errors import UserError

DEFAULTS_NOTE = "Unset flags take the preset's value."


class Parser(argparse.ArgumentParser):
    """argparse, with its two-line usage+error replaced by one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.HelpFormatter):
    """Shows a flag's default where it has one of its own (not None, not an on/off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and action.nargs != 0 and action.default not in (None, argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


def _number(kind: type, ok: Callable[[float], bool] = lambda v: True, rule: str = "", noun: str = ""):
    """An argparse type: parse ``kind`` (int or float), then require ``ok(value)``, else say
    ``rule``. NaN fails every comparison, so it never passes a range check."""
    noun = noun or ("a whole number" if kind is int else "a number")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    return parse


_int = _number(int)
_seed = _number(int, lambda v: 0 <= v <= MAX_SEED, f"must be between 0 and {MAX_SEED} (2**31 - 1)")
_positive_int = _number(int, lambda v: v >= 1, "must be >= 1")
_digit = _number(int, lambda v: 0 <= v <= 9, "must be a digit 0-9", noun="a digit 0-9")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "must be a finite number > 0")
_nonneg_float = _number(float, lambda v: 0 <= v < float("inf"), "must be a finite number >= 0")
_unit_float = _number(float, lambda v: 0 <= v < 1, "must lie in [0, 1)")


def build_parser() -> argparse.ArgumentParser:
    from digitgan.config import ARCHS, D_NORMS, LOSSES, PRECISIONS, PRESETS, TrainConfig
    from digitgan.data import DATASETS

    d = TrainConfig()
    parser = Parser(prog="digitgan", description="Train GANs that draw handwritten digits.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    t = sub.add_parser(
        "train",
        help="train a GAN in a new run folder",
        description="Train a GAN in a new numbered run folder. " + DEFAULTS_NOTE,
        formatter_class=HelpFormatter,
    )
    t.add_argument("--preset", default="seed", choices=sorted(PRESETS), help="named recipe")
    t.add_argument("--dataset", choices=sorted(DATASETS), help=f"training data (seed: {d.dataset})")
    t.add_argument("--data-root", help="folder holding MNIST/raw/ (default: $DIGITGAN_DATA, else ./data)")
    t.add_argument("--epochs", type=_positive_int, help=f"passes over the data (seed: {d.epochs})")
    t.add_argument("--batch-size", type=_positive_int, help=f"images per step (seed: {d.batch_size})")
    t.add_argument("--lr", type=_positive_float, help=f"Adam learning rate (seed: {d.lr})")
    t.add_argument("--beta1", type=_unit_float, help=f"Adam beta1 (seed: {d.beta1})")
    t.add_argument("--beta2", type=_unit_float, help=f"Adam beta2 (seed: {d.beta2})")
    t.add_argument("--arch", choices=ARCHS, help=f"network family (seed: {d.arch})")
    t.add_argument("--loss", choices=LOSSES, help=f"adversarial objective (seed: {d.loss})")
    t.add_argument(
        "--conditional",
        action=argparse.BooleanOptionalAction,
        help=f"G and D see the digit's label (seed: {d.conditional})",
    )
    t.add_argument(
        "--clusters",
        type=_int,
        help="self-conditioning without labels: G and D see which of K k-means clusters of the "
        f"pixels a digit is in, 0 = off (seed: {d.clusters}; scdcgan: {PRESETS['scdcgan']['clusters']})",
    )
    t.add_argument("--d-norm", choices=D_NORMS, help=f"conv D normalisation (seed: {d.d_norm})")
    t.add_argument(
        "--spectral-norm",
        action=argparse.BooleanOptionalAction,
        help=f"spectral normalisation in D (seed: {d.spectral_norm})",
    )
    t.add_argument(
        "--minibatch-std",
        action=argparse.BooleanOptionalAction,
        help=f"minibatch standard deviation feature in the conv D (seed: {d.minibatch_std})",
    )
    t.add_argument("--n-critic", type=_positive_int, help=f"D updates per G update (seed: {d.n_critic})")
    t.add_argument(
        "--gp-lambda", type=_nonneg_float, help=f"gradient penalty weight, wgan-gp (seed: {d.gp_lambda})"
    )
    t.add_argument(
        "--r1-gamma",
        type=_nonneg_float,
        help=f"R1 penalty weight on real digits, 0 = off (seed: {d.r1_gamma})",
    )
    t.add_argument(
        "--r1-every", type=_positive_int, help=f"apply R1 every N-th D step, scaled by N (seed: {d.r1_every})"
    )
    t.add_argument(
        "--lr-d", type=_positive_float, help="D's learning rate when it differs from G's (default: --lr)"
    )
    t.add_argument(
        "--mode-seeking",
        type=_number(float, lambda v: v >= 0, "must be >= 0"),
        help="weight of the mode-seeking term on pairs of G's digits with one label (Mao et al. 2019), 0 = off",
    )
    t.add_argument("--ema-decay", type=_unit_float, help=f"EMA of G's weights, 0 = off (seed: {d.ema_decay})")
    t.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="arithmetic of convolutional steps: bf16 autocast with fp32 master weights, auto = bf16 "
        f"where the CPU or GPU has it natively (seed: {d.precision})",
    )
    t.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help=f"NHWC memory layout for convolutional networks (seed: {d.channels_last})",
    )
    cycle = t.add_argument_group("cyclegan (typed <-> handwritten)")
    c = PRESETS["cyclegan"]
    cycle.add_argument(
        "--res-blocks", type=_int, help=f"residual blocks per generator (cyclegan: {c['res_blocks']})"
    )
    cycle.add_argument(
        "--patch-layers",
        type=_int,
        help=f"discriminator depth: 2 judges 18 px patches, 3 the whole digit (cyclegan: {c['patch_layers']})",
    )
    for name, what in (("cycle", "cycle"), ("identity", "identity"), ("semantic", "semantic-consistency")):
        cycle.add_argument(
            f"--{name}-lambda",
            type=_nonneg_float,
            help=f"weight of the {what} loss (cyclegan: {c[name + '_lambda']})",
        )
    cycle.add_argument(
        "--pool-size",
        type=_int,
        help=f"translations kept for the discriminators (cyclegan: {c['pool_size']})",
    )
    cycle.add_argument(
        "--decay-start",
        type=_nonneg_float,
        help=f"share of the run after which the learning rate falls linearly to 0 (cyclegan: {c['decay_start']})",
    )
    t.add_argument("--latent-dim", type=_positive_int, help=f"size of z (seed: {d.latent_dim})")
    t.add_argument("--hidden-dim", type=_positive_int, help=f"width of hidden layers (seed: {d.hidden_dim})")
    t.add_argument(
        "--seed", type=_seed, help=f"random seed for weights, data order and noise (seed: {d.seed})"
    )
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], help=f"where to train (seed: {d.device})")
    t.add_argument("--limit", type=_positive_int, help="train on the first N images only (default: all)")
    t.add_argument("--log-every", type=_positive_int, help=f"steps between log lines (seed: {d.log_every})")
    t.add_argument("--outdir", help=f"where run folders are created (seed: {d.outdir})")
    t.add_argument(
        "--checkpoint-every", type=_positive_int, help="epochs between saves of the full state (default: 1)"
    )
    t.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue this run folder from its saved state (no other training flags)",
    )
    t.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        help="also log scalars and grids for TensorBoard (pip install 'digitgan[tensorboard]')",
    )
    t.add_argument("--eval-every", type=_int, help="log FID and IS every K epochs (default: 0, off)")
    t.add_argument("--eval-n", type=_int, help=f"digits per evaluation during training (default: {d.eval_n})")
    t.add_argument(
        "--evaluator", help="evaluator file for --eval-every (default: the cache; trained if missing)"
    )
    bar = t.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="force a progress bar"
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="plain lines only")

    s = sub.add_parser(
        "sample",
        help="generate digits from a trained run",
        description="Generate digits with a run's generator: a .png grid or an .npz array.",
        formatter_class=HelpFormatter,
    )
    s.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run folder, e.g. runs/00001-seed")
    s.add_argument("--n", type=_positive_int, default=64, help="number of digits (per row with --per-digit)")
    which = s.add_mutually_exclusive_group()
    which.add_argument("--digit", type=_digit, help="draw only this digit (conditional runs)")
    which.add_argument("--per-digit", action="store_true", help="one row per digit 0-9 (conditional runs)")
    s.add_argument("--raw", action="store_true", help="use the raw generator, not its EMA weights")
    s.add_argument("--seed", type=_seed, default=0, help="noise seed: same seed, same bytes")
    s.add_argument("--out", type=Path, default=Path("samples.png"), help="output file, .png or .npz")
    s.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu", help="where to run G")

    it = sub.add_parser(
        "interpolate",
        help="a latent walk between two noise seeds, or two digits",
        description="Walk G's input between the noise of two seeds (spherical interpolation) or, for "
        "conditional runs, between two digits with the noise held fixed. Writes a PNG strip and a GIF.",
        formatter_class=HelpFormatter,
    )
    it.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run folder")
    walk = it.add_mutually_exclusive_group(required=True)
    walk.add_argument(
        "--seeds", type=_seed, nargs=2, metavar=("A", "B"), help="walk between these noise seeds"
    )
    walk.add_argument(
        "--digits", type=_digit, nargs=2, metavar=("A", "B"), help="walk between digits (conditional)"
    )
    it.add_argument("--steps", type=_number(int, lambda v: 2 <= v <= 100, "must be 2-100"), default=10)
    it.add_argument("--seed", type=_seed, default=0, help="the fixed noise for --digits")
    it.add_argument(
        "--digit", type=_digit, default=0, help="the fixed digit for --seeds on a conditional run"
    )
    it.add_argument("--out", type=Path, help="PNG path; the GIF goes beside it (default: in RUN_DIR)")

    hw = sub.add_parser(
        "handwrite",
        help="write a number by hand with a cyclegan run",
        description="Print TEXT (digits and spaces) in a font, translate each digit into handwriting with a "
        "cyclegan run, and write the line as one PNG.",
        formatter_class=HelpFormatter,
    )
    hw.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a cyclegan run folder")
    hw.add_argument("text", metavar="TEXT", help='digits and spaces, e.g. "2026"')
    hw.add_argument("--out", type=Path, default=Path("handwritten.png"), help="the PNG to write")
    hw.add_argument("--font", help="a font from 'digitgan fonts' (default: a held-out design)")
    hw.add_argument("--seed", type=_seed, default=0, help="varies the printed digits' slant, size and stroke")
    hw.add_argument("--compare", action="store_true", help="the typed line above the handwritten one")

    tr = sub.add_parser(
        "translate",
        help="translate an .npz of digits with a cyclegan run",
        description="Translate the digits of an .npz ('images': uint8 N x 28 x 28, optional 'labels', "
        "kept) into handwriting or type with a cyclegan run.",
        formatter_class=HelpFormatter,
    )
    tr.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a cyclegan run folder")
    tr.add_argument("--samples", type=Path, required=True, help="the .npz to translate (up to 10,000 digits)")
    tr.add_argument("--to", choices=("handwritten", "typed"), required=True, help="the target domain")
    tr.add_argument("--out", type=Path, required=True, help="the .npz to write")

    ex = sub.add_parser(
        "export",
        help="write a run's generator as ONNX, checked in onnxruntime",
        description="Export the generator digitgan samples with (EMA weights when kept) to ONNX with a "
        "dynamic batch axis: z (B, latent) [+ labels (B,) int64 for conditional runs] -> images "
        "(B, 1, 28, 28) in [-1, 1]; for a cyclegan run, source digits (B, 1, 28, 28) -> images translated (--to). The file "
        "is run in onnxruntime and compared with PyTorch before it is kept.",
        formatter_class=HelpFormatter,
    )
    ex.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run folder")
    ex.add_argument("--onnx", type=Path, required=True, help="the .onnx file to write")
    ex.add_argument(
        "--to",
        choices=("handwritten", "typed"),
        default="handwritten",
        help="cyclegan runs: which translator (default: handwritten)",
    )
    ex.add_argument("--seed", type=_seed, default=0, help="seed of the inputs the check compares on")

    sv = sub.add_parser(
        "serve",
        help="a web page and HTTP API that draw digits from trained runs",
        description="Serve a page (/) and an HTTP API (/api/..., docs at /docs) that draw digits from the "
        "given run folders, loaded once at start. Listens on 127.0.0.1 unless --host says otherwise.",
        formatter_class=HelpFormatter,
    )
    sv.add_argument("run_dirs", metavar="RUN_DIR", type=Path, nargs="+", help="run folders to serve")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    sv.add_argument(
        "--port",
        type=_number(int, lambda v: 0 <= v <= 65535, "must be 0-65535"),
        default=8000,
        help="0: any free port",
    )
    sv.add_argument(
        "--limit-concurrency",
        type=_number(int, lambda v: 1 <= v <= 1024, "must be 1-1024"),
        default=64,
        help="requests in progress at once; more are answered 503 at once",
    )
    sv.add_argument(
        "--threads", type=_positive_int, help="torch threads (default: the cores this process may use)"
    )

    sub.add_parser(
        "fonts",
        help="the fonts of the typed-digit data set (--dataset typed): licences, split, counts",
        description="List every font found for --dataset typed: its Debian package and licence, and whether "
        "it is used for training or testing (split by typeface design) or dropped, and why.",
    )

    rp = sub.add_parser(
        "report",
        help="write RUN_DIR/report.html: one self-contained page with metrics and pictures",
        description="Write a self-contained report.html (images embedded) for a run folder.",
    )
    rp.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run folder")

    ev = sub.add_parser(
        "evaluator",
        help="the MNIST classifier that metrics are measured with",
        description="Manage the evaluator: a small CNN trained on MNIST whose features and "
        "predictions every metric uses.",
    )
    ev_sub = ev.add_subparsers(dest="evaluator_command", required=True, metavar="ACTION", parser_class=Parser)
    et = ev_sub.add_parser(
        "train",
        help="train the evaluator (>= 99.2%% test accuracy, a few minutes on a CPU)",
        description="Train the evaluator on MNIST's train split and save it with its test accuracy.",
        formatter_class=HelpFormatter,
    )
    et.add_argument("--data-root", help="folder holding MNIST/raw/ (default: $DIGITGAN_DATA, else ./data)")
    et.add_argument(
        "--evaluator", type=Path, help="where to save it (default: $DIGITGAN_CACHE or ~/.cache/digitgan)"
    )
    et.add_argument("--epochs", type=_positive_int, default=4, help="passes over the 60,000 digits")
    et.add_argument("--seed", type=_seed, default=0, help="same seed, same weights")
    et.add_argument("--dataset", choices=sorted(DATASETS), default="mnist", help="what it learns to classify")
    et.add_argument("--limit", type=_positive_int, help="train on the first N digits only (for quick checks)")
    et.add_argument("--force", action="store_true", help="replace an existing evaluator file")

    e = sub.add_parser(
        "evaluate",
        help="score a run's digits (or an .npz of digits) beside the real-data floor",
        description="Score digits with the evaluator: FID, KID, IS, precision/recall, digit balance and "
        "confidence, next to the same metrics for real MNIST digits (the floor).",
        formatter_class=HelpFormatter,
    )
    target = e.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "run_dir", metavar="RUN_DIR", type=Path, nargs="?", help="a run folder to sample from"
    )
    target.add_argument(
        "--samples", type=Path, help="an .npz with 'images' (uint8 N x 28 x 28), optional 'labels'"
    )
    e.add_argument("--n", type=_positive_int, default=10_000, help="number of generated digits (100-10,000)")
    e.add_argument("--seed", type=_seed, default=0, help="noise seed for the generated digits")
    e.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        help="what --samples shows, measured by that dataset's evaluator (default: mnist; a run's own)",
    )
    e.add_argument("--evaluator", type=Path, help="evaluator file (default: the cache; trained if missing)")
    e.add_argument(
        "--data-root", help="MNIST for the reference (default: the run's, else $DIGITGAN_DATA, else ./data)"
    )
    e.add_argument(
        "--out", type=Path, help="metrics JSON (default: RUN_DIR/metrics.json; none for --samples)"
    )
    return parser


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("digitgan")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


def cmd_train(args: argparse.Namespace) -> None:
    from digitgan.config import make_config
    from digitgan.training_loop import train

    keys = (
        "dataset data_root epochs batch_size lr beta1 beta2 latent_dim hidden_dim seed device "
        "arch loss conditional clusters d_norm spectral_norm minibatch_std n_critic gp_lambda ema_decay r1_gamma r1_every lr_d mode_seeking "
        "limit log_every outdir eval_every eval_n evaluator checkpoint_every tensorboard "
        "res_blocks patch_layers cycle_lambda identity_lambda semantic_lambda pool_size decay_start "
        "precision channels_last"
    ).split()
    if args.resume is not None:
        # where to continue (--device) is not part of the recipe; everything else is
        given = [k for k in keys if k != "device" and getattr(args, k) is not None] + (
            ["preset"] if args.preset != "seed" else []
        )
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UserError(f"--resume continues a run with its own config; drop {flags}")
        train(None, progress=args.progress, resume=args.resume, device=args.device)
        return
    cfg = make_config(args.preset, **{k: getattr(args, k) for k in keys})
    train(cfg, progress=args.progress)


def cmd_sample(args: argparse.Namespace) -> None:
    from digitgan.checkpoint import load_generator
    from digitgan.sampling import check_sample_request, generate, requested_labels, write_samples
    from digitgan.trainer import resolve_device

    n = args.n * 10 if args.per_digit else args.n
    check_sample_request(n, args.out)
    G, cfg = load_generator(args.run_dir, resolve_device(args.device), use_ema=not args.raw)
    labels, nrow = requested_labels(cfg, args.n, args.digit, args.per_digit, name=str(args.run_dir))
    images = generate(G, n, args.seed, cfg.latent_dim, labels, as_uint8=args.out.suffix == ".npz")
    write_samples(images, args.out, labels, nrow=nrow or None)
    print(f"digitgan: wrote {n} digits to {args.out}")


def cmd_evaluator(args: argparse.Namespace) -> None:
    from digitgan.evaluator import default_evaluator_path, train_evaluator

    path = args.evaluator or default_evaluator_path(args.dataset)
    if path.exists() and not args.force:
        raise UserError(
            f"an evaluator already exists at {path}; pass --force to train a new one in its place"
        )
    train_evaluator(
        args.data_root, path, epochs=args.epochs, seed=args.seed, limit=args.limit, dataset=args.dataset
    )


def cmd_evaluate(args: argparse.Namespace) -> None:
    import json
    import time

    from digitgan.checkpoint import atomic_write_bytes, is_cyclegan_run, load_generator
    from digitgan.evaluation import check_n, floor, format_table, load_samples, reference, score_images
    from digitgan.evaluator import ensure_evaluator
    from digitgan.sampling import generate, sample_labels

    start = time.perf_counter()
    out = args.out
    if args.run_dir is not None and is_cyclegan_run(args.run_dir):
        evaluate_cyclegan(args)
        return
    if args.samples:
        images, labels = load_samples(args.samples)
        name, data_root, source = args.samples.name, args.data_root, {"samples": str(args.samples)}
        dataset = args.dataset or "mnist"
    else:
        check_n(args.n)
        G, cfg = load_generator(args.run_dir)
        if args.dataset is not None and args.dataset != cfg.dataset:
            raise UserError(
                f"{args.run_dir} was trained on {cfg.dataset}; it is measured against {cfg.dataset} "
                "(drop --dataset)"
            )
        labels = sample_labels(cfg, args.n)
        images = generate(G, args.n, args.seed, cfg.latent_dim, labels, as_uint8=True)[:, 0]
        name, data_root, dataset = args.run_dir.name, args.data_root or cfg.data_root, cfg.dataset
        source = {"run": str(args.run_dir), "seed": args.seed}
        out = out or args.run_dir / "metrics.json"
    if out is not None and not out.parent.is_dir():
        raise UserError(f"folder {out.parent} does not exist; create it or choose another --out")
    evaluator = ensure_evaluator(args.evaluator, data_root, dataset=dataset)
    ref = reference(evaluator, data_root)
    n = images.shape[0]
    metrics = score_images(images, evaluator, ref, labels=labels, seed=args.seed)
    floor_metrics = floor(ref, n)
    print(format_table(metrics, floor_metrics, name))
    seconds = time.perf_counter() - start
    print(
        f"digitgan: n = {n:,}, {dataset} evaluator {evaluator.path} (test accuracy {evaluator.accuracy:.2%}), {seconds:.1f} s"
    )
    if out is not None:
        report = {
            **source,
            "dataset": dataset,
            "n": n,
            "evaluator": {
                "dataset": evaluator.dataset,
                "path": str(evaluator.path),
                "accuracy": evaluator.accuracy,
                "md5": evaluator.digest,
            },
            "metrics": metrics,
            "real_floor": floor_metrics,
            "seconds": seconds,
        }
        atomic_write_bytes(out, (json.dumps(report, indent=2) + "\n").encode())
        print(f"digitgan: wrote {out}")


def evaluate_cyclegan(args: argparse.Namespace) -> None:
    import json
    import time

    from digitgan.checkpoint import atomic_write_bytes
    from digitgan.cycle_evaluation import evaluate_translation, format_translation
    from digitgan.evaluation import check_n

    start = time.perf_counter()
    if args.dataset is not None:
        raise UserError(
            f"{args.run_dir} is a cyclegan run: it is measured in both directions, against MNIST "
            "and the typed digits (drop --dataset)"
        )
    check_n(args.n)
    out = args.out or args.run_dir / "metrics.json"
    if not out.parent.is_dir():
        raise UserError(f"folder {out.parent} does not exist; create it or choose another --out")
    report = evaluate_translation(args.run_dir, args.data_root, args.evaluator, args.n, args.seed)
    report["seconds"] = time.perf_counter() - start
    print(format_translation(report))
    atomic_write_bytes(out, (json.dumps(report, indent=2) + "\n").encode())
    print(f"digitgan: {report['seconds']:.1f} s; wrote {out}")


def cmd_handwrite(args: argparse.Namespace) -> None:
    from digitgan.translation import handwrite

    font = handwrite(args.run_dir, args.text, args.out, args.font, args.seed, args.compare)
    print(f"digitgan: wrote {args.out} ({args.text!r} in {font}, written by {args.run_dir.name})")


def cmd_translate(args: argparse.Namespace) -> None:
    from digitgan.translation import translate_file

    n = translate_file(args.run_dir, args.samples, args.to, args.out)
    print(f"digitgan: translated {n:,} digits into {args.to}: {args.out}")


def cmd_export(args: argparse.Namespace) -> None:
    from digitgan.export import export_onnx

    done = export_onnx(args.run_dir, args.onnx, args.to, args.seed)
    inputs = ", ".join(f"{k} (B, {', '.join(map(str, v))})" for k, v in done["inputs"].items())
    print(
        f"digitgan: wrote {args.onnx} ({done['bytes']:,} bytes): {inputs} -> images (B, 1, 28, 28); "
        f"onnxruntime matches PyTorch within {done['max_abs_diff']:.1e}"
    )


def cmd_interpolate(args: argparse.Namespace) -> None:
    from digitgan.checkpoint import load_generator
    from digitgan.sampling import interpolate, strip_and_gif

    G, cfg = load_generator(args.run_dir)
    if args.digits is not None and not cfg.conditional:
        raise UserError(
            f"{args.run_dir} is an unconditional run ({cfg.preset}): --digits needs cgan or cdcgan"
        )
    kind, (a, b) = ("digits", args.digits) if args.digits is not None else ("seeds", args.seeds)
    png = args.out or args.run_dir / f"interpolation-{kind}-{a}-{b}.png"
    if png.suffix != ".png" or not png.parent.is_dir():
        raise UserError(f"--out must be a .png in an existing folder, got {png}")
    images = interpolate(
        G, cfg.latent_dim, args.steps, seeds=args.seeds, digits=args.digits, seed=args.seed, digit=args.digit
    )
    strip_and_gif(images, png, png.with_suffix(".gif"))
    print(f"digitgan: wrote {png} and {png.with_suffix('.gif')}")


def cmd_serve(args: argparse.Namespace) -> None:
    from digitgan.serve import run_server

    run_server(args.run_dirs, args.host, args.port, args.limit_concurrency, args.threads)


def cmd_fonts(args: argparse.Namespace) -> None:
    from digitgan.typed import font_report

    print(font_report())


def cmd_report(args: argparse.Namespace) -> None:
    from digitgan.report import write_report

    print(f"digitgan: wrote {write_report(args.run_dir)}")


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
}


def main(argv: list[str] | None = None) -> int:
    from digitgan.run_folder import Diverged, Interrupted

    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except UserError as exc:
        print(f"digitgan: error: {exc}", file=sys.stderr)
        return 2
    except Diverged:
        return 3  # the loop has printed why
    except Interrupted as exc:
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("digitgan: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
