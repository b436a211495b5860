"""The package's layers hold: every module sits in one layer, imports (lazy ones included)
go to its own layer or below, there is no import circle, and docs/architecture.md walks
every module, so that the map a newcomer reads cannot drift from the code."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "digitgan"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

# Bottom to top. A module may import modules of its own layer and of the layers below; what
# a lower layer needs from above comes in as an argument (the epoch evaluator into the
# training loop, the gradient reduce into the optimiser).
LAYERS = [
    ("basics", {"errors", "settings", "images", "files", "idx", "safe_output", "metrics", "tutorial"}),
    ("kernels", {"layers", "minibatch_std", "optim", "distributed", "arithmetic"}),
    ("data", {"datasets", "data", "typed"}),
    ("config", {"config", "presets"}),
    ("models", {"networks", "cyclegan", "clusters", "losses", "ema", "draw"}),
    ("runs", {"checkpoint", "run_folder", "pictures", "run_outputs"}),
    ("training", {"family", "trainer", "mlp_step", "cycle_trainer", "guide", "training_loop"}),
    (
        "uses",
        {"evaluator", "evaluation", "cas", "cycle_evaluation", "report"}
        | {"sampling", "export", "synthetic", "translation"},
    ),
    ("serving", {"served", "serve", "http_guards", "serve_bounds"}),
    ("cli", {"argtypes", "train_flags", "commands", "cli", "__main__", "__init__"}),
]
LAYER_OF = {module: i for i, (_, modules) in enumerate(LAYERS) for module in modules}


def imports_of(path: Path) -> set[str]:
    """The digitgan modules a file imports, wherever in the file (a lazy import counts)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "digitgan":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("digitgan.")}
    return found - {path.stem}


GRAPH = {path.stem: imports_of(path) for path in PACKAGE.glob("*.py")}


def test_every_module_has_a_layer():
    assert set(GRAPH) == set(LAYER_OF), set(GRAPH) ^ set(LAYER_OF)


def test_no_module_imports_from_a_layer_above_it():
    upward = [
        f"{module} ({LAYERS[LAYER_OF[module]][0]}) -> {target} ({LAYERS[LAYER_OF[target]][0]})"
        for module, targets in GRAPH.items()
        for target in targets
        if LAYER_OF[target] > LAYER_OF[module]
    ]
    assert upward == []


def test_there_is_no_import_circle():
    def circle_from(start: str, path: list[str]) -> list[str] | None:
        for target in sorted(GRAPH[start]):
            if target == path[0]:
                return [*path, target]
            if target not in path:
                found = circle_from(target, [*path, target])
                if found:
                    return found
        return None

    circles = [c for module in sorted(GRAPH) if (c := circle_from(module, [module]))]
    assert circles == []


def test_the_architecture_page_walks_every_module_and_layer():
    text = DOC.read_text()
    missing = [m for m in GRAPH if m not in ("__init__", "__main__") and f"`{m}.py`" not in text]
    assert missing == []
    assert all(f"**{name}**" in text for name, _ in LAYERS)


def test_both_families_have_all_the_loop_uses_and_the_loop_uses_no_more():
    """family.Family says everything the loop and the epoch evaluator call on a family; the
    GAN and CycleGAN families have each member, taking the same arguments."""
    import inspect

    import torch

    from digitgan.cycle_trainer import CycleTrainer
    from digitgan.family import Family
    from digitgan.presets import make_config
    from digitgan.trainer import Trainer

    members = {name for name in vars(Family) if not name.startswith("_")} | set(Family.__annotations__)

    def arity(function) -> list[bool]:  # the loop passes arguments by position: count them
        return [p.default is inspect.Parameter.empty for p in inspect.signature(function).parameters.values()]

    for cls in (Trainer, CycleTrainer):
        for name in members - {"arith"}:
            assert arity(getattr(cls, name)) == arity(getattr(Family, name)), (cls, name)
    assert isinstance(Trainer(make_config("seed"), torch.device("cpu")), Family)
    used = set()
    for module in ("training_loop", "evaluation"):
        for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute | ast.Name):
                owner = node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id
                if owner in ("trainer", "family"):
                    used.add(node.attr)
    assert used - members == {"fit_clusters"}  # the GAN family's own, for --clusters (no cyclegan)


def test_help_imports_no_torch_or_numpy():
    """Every command's --help answers without importing the heavy libraries: they load when
    a command runs."""
    import subprocess
    import sys

    from digitgan.cli import COMMANDS

    probe = (
        "import sys\nfrom digitgan.cli import build_parser\n"
        "for argv in [['--help']] + [[c, '--help'] for c in sys.argv[1:]]:\n"
        "    try:\n        build_parser().parse_args(argv)\n    except SystemExit:\n        pass\n"
        "heavy = ('torch', 'numpy', 'PIL', 'matplotlib', 'fastapi', 'uvicorn', 'safetensors')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *COMMANDS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr.strip() == "[]", done.stderr[-500:]
