"""The model card of a shipped model: README.md in the Hugging Face Hub's conventions, its
YAML front matter holding the figures as a model-index (scripts/make_pretrained.py calls it)."""

from __future__ import annotations

import json
from pathlib import Path

from digitgan.runs.shipped import sha256

ABOUT = {
    "cdcgan": (
        "A conditional DCGAN: it draws the digit it is asked for (0-9) from 100 numbers of noise.",
        "image-generation",
        "class-conditional digit generation",
    ),
    "scdcgan": (
        "A self-conditioned DCGAN: it draws digits from noise alone, trained without labels "
        "(it conditions on 200 k-means clusters of the pixels it found itself).",
        "unconditional-image-generation",
        "unconditional digit generation",
    ),
    "cyclegan": (
        "A CycleGAN between typed digits (printed in fonts) and handwritten ones (MNIST): "
        "it writes a printed number by hand, and types a handwritten one.",
        "image-to-image",
        "typed -> handwritten digit translation",
    ),
}
USE = {
    "cdcgan": "digitgan sample --pretrained cdcgan --digit 7 --n 64 --out sevens.png\n"
    "python -c \"import digitgan; digitgan.load('cdcgan').grid(digit=7).save('sevens.png')\"",
    "scdcgan": "digitgan sample --pretrained scdcgan --n 10000 --out digits.npz",
    "cyclegan": 'digitgan handwrite --pretrained "2026" --out 2026.png\n'
    "digitgan translate --pretrained --samples typed.npz --to handwritten --out hand.npz",
}
NOT_FOR = {
    "cdcgan": "anything but 28 x 28 grey digits in MNIST's style; it is not a handwriting "
    "model of a person, and its digits are not a substitute for real data where a real "
    "writer's variety matters (a classifier trained on them alone scores below one trained on MNIST).",
    "scdcgan": "choosing which digit it draws (use cdcgan); about 4% of its digits are not "
    "read confidently as any digit.",
    "cyclegan": "fonts far from the ones it trained on: on 145 fonts of 45 Debian packages it never "
    "saw it keeps 94% of digits and 86% of 6s (`bench/unseen_fonts.py`; issue 44). Glyphs that are "
    "not digits, inverted or boxed digits are named by the typed-digit reader (`digitgan translate` "
    "warns with their indices), then translated into whatever digit it sees in them.",
}
LICENCES = {
    "cdcgan": "MIT (the weights and code); trained on MNIST (Yann LeCun and Corinna Cortes), "
    "distributed under CC BY-SA 3.0 terms.",
    "scdcgan": "MIT (the weights and code); trained on MNIST (Yann LeCun and Corinna Cortes), "
    "distributed under CC BY-SA 3.0 terms.",
    "cyclegan": "MIT (the weights and code); trained on MNIST (CC BY-SA 3.0 terms) and on digits "
    "printed with the fonts of Debian's font packages (Bitstream Vera licence, SIL OFL 1.1, "
    "GPL with font exception, Apache 2.0, BSD: `digitgan fonts` lists each font and its licence).",
}


FIGURES_HOW = {
    **dict.fromkeys(
        ("cdcgan", "scdcgan"),
        "Measured with digitgan's own evaluator (the small MNIST classifier that ships with digitgan, "
        "test accuracy {accuracy:.2%}) on 10,000 of this model's digits (seed 0), beside the same "
        "figures for real digits, 10,000 MNIST training digits against the 10,000 test digits "
        "(`digitgan evaluate --pretrained {name}`). FID and KID: lower is better; the rest: higher.",
    ),
    "cyclegan": "Measured on 10,000 held-out digits each way (`digitgan evaluate --pretrained cyclegan`): "
    "typed digits printed in fonts it never saw, translated into handwriting and read by the MNIST "
    "evaluator (test accuracy {accuracy:.2%}), and MNIST's test digits translated into type and read "
    "by the typed-digit evaluator; each FID beside the real floor of its target domain.",
}


def metric_rows(name: str, report: dict) -> list[tuple[str, str, float, float | None]]:
    """(key, label, value, real floor) of each figure the card quotes."""
    if name == "cyclegan":
        rows = []
        for key, label in (
            ("typed_to_handwritten", "typed -> handwritten"),
            ("handwritten_to_typed", "handwritten -> typed"),
        ):
            d = report[key]
            rows.append(
                (
                    f"{key}_accuracy",
                    f"{label}: read as its digit",
                    d["translated"]["conditional_accuracy"],
                    None,
                )
            )
            rows.append((f"{key}_fid", f"{label}: FID", d["translated"]["fid"], d["real_floor"]["fid"]))
        return rows
    m, floor = report["metrics"], report["real_floor"]
    labels = {
        "fid": "FID",
        "kid": "KID",
        "is": "IS",
        "precision": "precision (k=3)",
        "recall": "recall (k=3)",
    }
    rows = [(k, label, m[k], floor[k]) for k, label in labels.items()]
    if "conditional_accuracy" in m:
        rows.append(("requested_digit", "requested digit drawn", m["conditional_accuracy"], None))
    if "cas" in report:
        cas = report["cas"]
        rows.append(("cas", f"CAS ({cas['n']:,} digits)", cas["cas"], cas["real_floor"]))
    return rows


def front_matter(name: str, rows: list) -> str:
    """The YAML front matter: licence, tags, and the figures as a model-index."""
    _, tag, task = ABOUT[name]
    datasets = ["mnist"] + (["typed-digits-debian-fonts"] if name == "cyclegan" else [])
    lines = ["---", "license: mit", "library_name: digitgan", f"pipeline_tag: {tag}", "tags:"]
    lines += [f"  - {t}" for t in ("gan", "mnist", "pytorch", "digitgan")]
    lines += ["datasets:"] + [f"  - {d}" for d in datasets]
    lines += ["model-index:", f"  - name: digitgan-{name}", "    results:", "      - task:"]
    lines += [f"          type: {tag}", f"          name: {task}", "        dataset:"]
    lines += ["          type: mnist", "          name: MNIST", "          split: test", "        metrics:"]
    for key, label, value, _ in rows:
        lines += [f"          - type: {key}", f"            value: {value:.4f}"]
        lines += [f"            name: {label} (digitgan evaluator, n = 10,000)"]
    return "\n".join([*lines, "---", ""])


def figures_table(rows: list) -> str:
    lines = ["| figure | this model | real data (the floor) |", "|---|---|---|"]
    for _, label, value, floor in rows:
        fmt = "{:.2%}" if "read as" in label or "drawn" in label or "CAS" in label else "{:.4g}"
        lines.append(f"| {label} | {fmt.format(value)} | {'-' if floor is None else fmt.format(floor)} |")
    return "\n".join(lines)


def write_card(name: str, folder: Path, report: dict, facts: dict, command: str) -> None:
    rows = metric_rows(name, report)
    within = report.get("reproduce_within", {})
    margins = (
        f"FID within {within['fid_relative']:.0%}, precision and recall within {within['precision']}, "
        f"IS within {within['is']}, the shares read as the right digit within {within['accuracy'] * 100:g} points"
    )
    evaluator = report.get("evaluator") or report["typed_to_handwritten"]["evaluator"]
    text = f"""{front_matter(name, rows)}
# digitgan {name}

{ABOUT[name][0]} It ships inside the digitgan package: nothing is downloaded.

```bash
{USE[name]}
```

## Figures

{FIGURES_HOW[name].format(accuracy=evaluator["accuracy"], name=name)}

{figures_table(rows)}

`tests/api/test_pretrained.py` measures them again with the shipped evaluator
(`pretrained/evaluator/`) and holds them to the card: {margins} (another CPU's kernels round
differently, and an evaluator trained again rounds differently too: these margins hold for both).

## Training

- Command: `{command} --data-root DATA`
- Training time: {facts["minutes"]:.1f} minutes on {facts["cpu"]}, torch {facts["torch"]}, CPU only
- digitgan {facts["version"]}, commit {facts["commit"]}
- Weights: the exponential moving average of the generator(s), stored in float16 and used in float32

## Files

- `config.json`: the run's config (every setting; `digitgan.load` builds the network from it), sha256 `{sha256(folder / "config.json")}`
- `model.safetensors`: the weights, sha256 `{sha256(folder / "model.safetensors")}` (checked at every load)
- `metrics.json`: the evaluator's report these figures come from

## Licences

{LICENCES[name]}

## Not good for

{NOT_FOR[name]}
"""
    (folder / "README.md").write_text(text)
    (folder / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
