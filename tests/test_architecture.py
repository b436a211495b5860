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
    ("data", {"data", "typed"}),
    ("config", {"config", "presets"}),
    ("models", {"networks", "cyclegan", "clusters", "losses", "ema", "draw"}),
    ("runs", {"checkpoint", "run_folder", "pictures", "run_outputs"}),
    ("training", {"trainer", "mlp_step", "cycle_trainer", "guide", "training_loop"}),
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
