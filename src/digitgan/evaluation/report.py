"""One self-contained HTML page per run: config, metrics beside the real-data floor, curves,
the final grid, a per-digit grid for conditional runs, and the training animation. Every
image is embedded as a data URI, so the file opens anywhere without network or run folder.

    digitgan report runs/00002-dcgan
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from digitgan.basics.errors import UserError
from digitgan.basics.files import atomic_write_bytes
from digitgan.basics.images import grid_png_bytes
from digitgan.config.train_config import TrainConfig
from digitgan.evaluation.scores import ROWS
from digitgan.models.draw import generate
from digitgan.runs.checkpoint import load_config, load_generator
from digitgan.runs.pictures import curves, progress_gif
from digitgan.runs.run_folder import require_run_dir

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } img.px { image-rendering: pixelated; } .row { display: flex; gap: 2em; flex-wrap: wrap; }
figure { margin: 0; } figcaption { color: #666; font-size: 0.9em; }
"""

# Marks the page with how many images decoded, for a headless browser (and a curious reader).
CHECK_IMAGES = """
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.images = String(imgs.length);
  document.body.dataset.imagesLoaded = String(ok);
});
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _figure(data: bytes, mime: str, caption: str, width: int | None = None) -> str:
    """Digit grids (given a width) are drawn with sharp pixels; plots are smoothed."""
    size = f' width="{width}" class=px' if width else ""
    return (
        f'<figure><img src="{_data_uri(data, mime)}" alt="{html.escape(caption)}"{size}>'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _metrics_table(report: dict) -> str:
    if report.get("family") == "cyclegan":  # both directions, as digitgan evaluate prints them
        from digitgan.cyclegan.cycle_scores import format_translation

        return f"<pre>{html.escape(format_translation(report))}</pre>"
    m, floor = report["metrics"], report["real_floor"]
    rows = ["<tr><th>metric</th><th>this run</th><th>real floor</th><th>better</th></tr>"]
    for key, label, fmt, better in ROWS:
        if key in m:
            theirs = fmt.format(floor[key]) if key in floor else "-"
            rows.append(
                f"<tr><td>{html.escape(label)}</td><td class=num>{fmt.format(m[key])}</td>"
                f"<td class=num>{theirs}</td><td>{html.escape(better)}</td></tr>"
            )
    if isinstance(report.get("cas"), dict):  # evaluate --cas (Ravuri & Vinyals 2019)
        cas = report["cas"]
        rows.append(
            f"<tr><td>classification accuracy score ({cas['n']:,} digits)</td><td class=num>{cas['cas']:.2%}</td>"
            f"<td class=num>{cas['real_floor']:.2%}</td><td>higher</td></tr>"
        )
    shares = " ".join(f"{d}: {s:.1%}" for d, s in enumerate(m["digit_shares"]))
    note = (
        f"<p>n = {report['n']:,}; evaluator test accuracy {report['evaluator']['accuracy']:.2%}. "
        f"Predicted digits: {html.escape(shares)}</p>"
    )
    return "<table>" + "".join(rows) + "</table>" + note


def metrics_section(path: Path) -> str:
    """The metrics table from a run's metrics.json; a damaged file is a :class:`UserError`
    that says how to make it again."""
    try:
        return _metrics_table(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise UserError(
            f"{path} is damaged ({type(exc).__name__}: {exc}); delete it, or run digitgan evaluate "
            f"{path.parent} again"
        ) from exc


def _sample_figures(run_dir: Path, cfg: TrainConfig) -> list[str]:
    """The last fixed-noise grid, a row per digit for a conditional run, the progress GIF."""
    figures = []
    grids = sorted((run_dir / "samples").glob("fixed-*.png"))
    if grids:
        what = "held-out typed digits above their translation" if cfg.family == "cyclegan" else "fixed noise"
        caption = f"{what}, epoch {int(grids[-1].stem[6:])}"
        figures.append(_figure(grids[-1].read_bytes(), "image/png", caption, 302))
    if cfg.conditional:
        import torch

        labels = torch.arange(10).repeat_interleave(10)
        images = generate(load_generator(run_dir)[0], 100, seed=0, latent_dim=cfg.latent_dim, labels=labels)
        figures.append(
            _figure(grid_png_bytes(images, nrow=10), "image/png", "one row per digit, 0 to 9", 302)
        )
    gif = run_dir / "progress.gif"
    if not gif.is_file():
        progress_gif(run_dir)
    if gif.is_file():
        figures.append(
            _figure(gif.read_bytes(), "image/gif", "training progress, fixed noise every epoch", 302)
        )
    return figures


def write_report(run_dir: str | Path) -> Path:
    """RUN/report.html: the run's metrics, samples, progress, curves and config in one
    self-contained page (every image inline)."""
    run_dir = require_run_dir(run_dir)
    cfg = load_config(run_dir / "config.json")
    parts = [f"<h1>digitgan run {html.escape(run_dir.name)}</h1>", "<h2>Metrics</h2>"]
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        parts.append(metrics_section(metrics_path))
    else:
        parts.append(f"<p>Not evaluated yet: <code>digitgan evaluate {html.escape(str(run_dir))}</code>.</p>")
    parts += ["<h2>Samples</h2><div class=row>", *_sample_figures(run_dir, cfg), "</div>"]
    curve_png = run_dir / "curves.png"
    if not curve_png.is_file() and (run_dir / "stats.jsonl").is_file():
        curves(run_dir)
    if curve_png.is_file():
        parts.append(
            "<h2>Training curves</h2>"
            + _figure(curve_png.read_bytes(), "image/png", "losses, D's outputs, FID and IS")
        )
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(json.dumps(v))}</td></tr>"
        for k, v in sorted(cfg.to_dict().items())
    )
    parts.append(f"<h2>Configuration</h2><table>{rows}</table>")
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>digitgan {html.escape(run_dir.name)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(parts)}<script>{CHECK_IMAGES}</script></body></html>"
    )
    out = run_dir / "report.html"
    atomic_write_bytes(out, page.encode())
    return out
