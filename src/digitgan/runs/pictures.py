"""The pictures a run folder gets at the end of training: ``progress.gif`` (the fixed-noise
grid of every epoch, labelled) and ``curves.png`` (losses, D's outputs, FID and IS).

    python -c "from digitgan.runs.pictures import make_pictures; make_pictures('runs/00002-dcgan')"
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image, ImageDraw

from digitgan.basics.files import atomic_write_bytes
from digitgan.runs.run_folder import read_stats

MAX_FRAMES = 60  # longer runs keep evenly spaced epochs (always the last one)
GIF_BUDGET = 4_000_000  # bytes: shrink the frames if the animation would be larger


def _pick(items: list, k: int) -> list:
    """``k`` evenly spaced items, always the first and the last (the last alone for k = 1)."""
    if len(items) <= k:
        return items
    if k == 1:
        return items[-1:]
    idx = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in idx]


def _gif_bytes(grids: list[tuple[int, Image.Image]], scale: float) -> bytes:
    """(epoch, grid) pairs as one animation, each frame labelled with its epoch."""
    frames = []
    for epoch, grid in grids:
        if scale != 1.0:
            grid = grid.resize((round(grid.width * scale), round(grid.height * scale)), Image.LANCZOS)
        frame = Image.new("L", (grid.width, grid.height + 16), 0)
        frame.paste(grid, (0, 16))
        ImageDraw.Draw(frame).text((4, 2), f"epoch {epoch}", fill=255)
        frames.append(frame)
    buffer = io.BytesIO()
    durations = [150] * (len(frames) - 1) + [1500]  # linger on the final epoch
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buffer.getvalue()


def progress_gif(run_dir: str | Path, max_frames: int = MAX_FRAMES, budget: int = GIF_BUDGET) -> Path | None:
    """Assemble samples/fixed-*.png into progress.gif: at most ``max_frames`` frames (evenly
    spaced epochs, always the last) and at most ``budget`` bytes. Over budget, the frames
    shrink (down to 0.3x), then every other epoch is dropped, until it fits."""
    run_dir = Path(run_dir)
    grids = sorted((run_dir / "samples").glob("fixed-*.png"))
    if not grids:
        return None
    loaded: dict[Path, tuple[int, Image.Image]] = {}  # each grid read once, however many tries

    def load(path: Path) -> tuple[int, Image.Image]:
        if path not in loaded:
            loaded[path] = (int(path.stem.split("-")[1]), Image.open(path).convert("L"))
        return loaded[path]

    frames, scale = max_frames, 1.0
    while True:
        data = _gif_bytes([load(p) for p in _pick(grids, frames)], scale)
        if len(data) <= budget or frames == 1:  # one small frame is a few kB
            break
        if scale > 0.3:
            scale *= 0.7
        else:
            frames = max(1, frames // 2)
    out = run_dir / "progress.gif"
    atomic_write_bytes(out, data)
    return out


def _smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """Exponential smoothing as TensorBoard draws it, skipping non-finite values."""
    out, last = [], None
    for v in values:
        if math.isfinite(v):
            last = v if last is None else weight * last + (1 - weight) * v
        out.append(last if last is not None else math.nan)
    return out


def curves(run_dir: str | Path) -> Path | None:
    """curves.png: d_loss and g_loss (raw and smoothed), D(x) and D(G(z)) against step; FID
    and IS against epoch where the run evaluated during training."""
    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    stats = run_dir / "stats.jsonl"
    rows = read_stats(stats) if stats.is_file() else []
    train_rows = [r for r in rows if "d_loss" in r]
    eval_rows = [r for r in rows if "fid" in r]
    if not train_rows:
        return None
    panels = 3 if eval_rows else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8))
    steps = [r["global_step"] for r in train_rows]
    ax = axes[0]
    for key, color in (("d_loss", "tab:blue"), ("g_loss", "tab:orange")):
        values = [r[key] if r[key] is not None else math.nan for r in train_rows]
        ax.plot(steps, values, color=color, alpha=0.3, linewidth=0.8)
        ax.plot(steps, _smooth(values), color=color, label=key)
    ax.set(xlabel="step", title="losses (faint: raw, solid: smoothed)")
    ax = axes[1]
    for key, color in (("D(x)", "tab:green"), ("D(G(z))", "tab:red")):
        values = [r[key] for r in train_rows]
        ax.plot(steps, values, color=color, alpha=0.3, linewidth=0.8)
        ax.plot(steps, _smooth(values), color=color, label=key)
    ax.set(xlabel="step", title="discriminator outputs")
    if eval_rows:
        ax = axes[2]
        epochs = [r["epoch"] + 1 for r in eval_rows]
        ax.plot(epochs, [r["fid"] for r in eval_rows], marker="o", color="tab:purple", label="FID")
        ax.set(
            xlabel="epoch",
            ylabel="FID (lower is better)",
            yscale="log",
            title=f"quality (n = {eval_rows[0]['eval_n']})",
        )
        twin = ax.twinx()
        twin.plot(epochs, [r["is"] for r in eval_rows], marker="s", color="tab:brown", label="IS")
        twin.set_ylabel("IS (higher is better)")
        lines = ax.get_lines() + twin.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    for ax in axes[:2]:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    out = run_dir / "curves.png"
    atomic_write_bytes(out, buffer.getvalue())
    return out


def make_pictures(run_dir: str | Path) -> list[Path]:
    return [p for p in (progress_gif(run_dir), curves(run_dir)) if p is not None]


def pictures_line(run_dir: str | Path) -> str:
    """Draw the pictures at the end of training; the log line that says what was written,
    or a warning: a picture must never cost the trained weights."""
    try:
        made = make_pictures(run_dir)
        return "digitgan: wrote " + ", ".join(p.name for p in made)
    except Exception as exc:  # noqa: BLE001 - whatever fails, the weights are already saved
        return f"digitgan: warning: could not draw the pictures ({type(exc).__name__}: {exc})"
