"""The trained models that ship inside the package, ready without training or downloads.

Each is a folder of ``digitgan/pretrained/`` in the Hugging Face Hub's layout, so that it
could be published as it is (nothing in digitgan fetches from a hub)::

    pretrained/cdcgan/  config.json  model.safetensors  README.md  metrics.json

``config.json`` is the run's config (as a run folder's checkpoints/config.json), and
``model.safetensors`` the inference weights, one key prefix per network (``G.``, or
``to_handwritten.`` and ``to_typed.`` for cyclegan), stored in float16 and used in float32.
``README.md`` is the model card and ``metrics.json`` the evaluator's figures it quotes.
``pretrained/evaluator/`` holds the MNIST classifier those figures are measured with.
``pretrained/SHA256SUMS`` holds the sha256 of every config and weights file (``sha256sum -c``
reads it); each load checks them, so a flipped byte or a cut file is one error naming the
file, never a silently different model.

    digitgan sample --pretrained cdcgan --digit 7 --out sevens.png
    digitgan pretrained
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from digitgan.basics.errors import UserError

PRETRAINED_ROOT = Path(__file__).resolve().parents[1] / "pretrained"
SUMS = PRETRAINED_ROOT / "SHA256SUMS"
NAMES = ("cdcgan", "scdcgan", "cyclegan")  # what ships: two generators and a translator
CHECKED = ("config.json", "model.safetensors")  # the files a model is made of
EVALUATOR = "evaluator"  # the folder of evaluation/classifier.py's network, trained on MNIST
READER = "reader"  # cyclegan/reader.py's network: which typed inputs are not digits
REINSTALL = "reinstall digitgan (pip install --force-reinstall digitgan) to restore it"


def pretrained_dir(name: str) -> Path:
    """The folder of the shipped model ``name``, or the one-line error listing them."""
    if name not in NAMES:
        raise UserError(f"no pretrained model {name!r}; the shipped ones are {', '.join(NAMES)}")
    folder = PRETRAINED_ROOT / name
    if not (folder / "model.safetensors").is_file():
        raise UserError(f"the pretrained {name} is missing from {PRETRAINED_ROOT}; {REINSTALL}")
    return folder


def is_model_folder(path: Path) -> bool:
    """A shipped model's folder (config.json and model.safetensors), not a run folder."""
    path = Path(path)
    return (path / "model.safetensors").is_file() and (path / "config.json").is_file()


def expected_sums() -> dict[str, str]:
    """'cdcgan/model.safetensors' -> its sha256, as SHA256SUMS lists them."""
    try:
        lines = SUMS.read_text().splitlines()
    except OSError as exc:
        raise UserError(f"{SUMS} cannot be read ({exc.strerror}); {REINSTALL}") from exc
    return {name.strip(): digest for digest, _, name in (line.partition("  ") for line in lines if line)}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify(folder: Path) -> None:
    """Check a shipped model's files against SHA256SUMS: the one-line error names the file
    that differs (tampered, truncated or replaced)."""
    for file in CHECKED:
        verify_file(Path(folder) / file)


def verify_file(path: Path) -> None:
    """Check one shipped file against SHA256SUMS, just before it is read."""
    path, sums = Path(path), expected_sums()
    key = f"{path.parent.name}/{path.name}"
    if key not in sums:
        raise UserError(f"{path} is not a shipped file (not in {SUMS}); {REINSTALL}")
    if not path.is_file():
        raise UserError(f"{path} is missing; {REINSTALL}")
    if sha256(path) != sums[key]:
        raise UserError(f"{path} does not match its sha256 in {SUMS}: it was changed or damaged; {REINSTALL}")


def shipped_evaluator() -> Path:
    """The MNIST evaluator every figure is measured with unless ``--evaluator`` names another,
    checked against SHA256SUMS: one fixed classifier, as FID's Inception weights are fixed,
    so that figures from two machines compare."""
    return shipped_weights(EVALUATOR)


def shipped_weights(folder: str) -> Path:
    """A shipped network's model.safetensors (``folder``: EVALUATOR, READER), checked
    against SHA256SUMS."""
    path = PRETRAINED_ROOT / folder / "model.safetensors"
    verify_file(path)
    return path


def packed_state(folder: Path, role: str) -> dict[str, torch.Tensor]:
    """The float32 weights of one network (``role``: G, to_handwritten, to_typed) of a shipped
    model, checked against SHA256SUMS first."""
    path = Path(folder) / "model.safetensors"
    verify_file(path)
    prefix = f"{role}."
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k.removeprefix(prefix): f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    except (SafetensorError, OSError) as exc:  # unreachable once the sha256 matched, unless I/O fails
        raise UserError(f"{path} cannot be read ({exc}); {REINSTALL}") from exc
    if not state:
        raise UserError(f"{path} holds no {role} network; it is not the model its config says")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def card_figures(name: str) -> dict:
    """The figures a shipped model's card quotes (its metrics.json, as ``digitgan evaluate``
    wrote it)."""
    import json

    path = PRETRAINED_ROOT / name / "metrics.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} cannot be read ({exc}); {REINSTALL}") from exc


def _figures_line(report: dict) -> str:
    if report.get("family") == "cyclegan":
        hand, typed = report["typed_to_handwritten"], report["handwritten_to_typed"]
        return (
            f"typed -> handwritten read as its digit {hand['translated']['conditional_accuracy']:.2%} "
            f"(FID {hand['translated']['fid']:.2f}, floor {hand['real_floor']['fid']:.2f}); "
            f"handwritten -> typed {typed['translated']['conditional_accuracy']:.2%}"
        )
    m, floor = report["metrics"], report["real_floor"]
    line = (
        f"FID {m['fid']:.2f} ({m['fid'] / floor['fid']:.1f}x the floor {floor['fid']:.2f}), "
        f"precision {m['precision']:.3f}, recall {m['recall']:.3f}"
    )
    if "conditional_accuracy" in m:
        line += f", requested digit {m['conditional_accuracy']:.2%}"
    return line


def shipped_table() -> str:
    """What ``digitgan pretrained`` prints: each shipped model, what it does, its figures
    (the evaluator, n = 10,000) and its card."""
    about = {
        "cdcgan": "draws the digit asked for (conditional DCGAN)",
        "scdcgan": "draws digits from noise alone (self-conditioned DCGAN, no labels)",
        "cyclegan": "writes typed digits by hand and back (CycleGAN)",
    }
    lines = []
    for name in NAMES:
        folder = pretrained_dir(name)
        size = (folder / "model.safetensors").stat().st_size
        lines += [
            f"{name}: {about[name]}; {size / 1e6:.1f} MB",
            f"  {_figures_line(card_figures(name))}",
            f"  card: {folder / 'README.md'}",
        ]
    lines.append(
        "use: digitgan sample --pretrained cdcgan --digit 7 --out sevens.png, or digitgan.load('cdcgan')"
    )
    return "\n".join(lines)
