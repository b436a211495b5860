"""The package's layers hold: its folders are layers, from basics at the bottom to the CLI at
the top, with cyclegan/ a vertical slice whose modules each sit in the layer of their role;
every import (lazy ones included) goes to the module's own layer or below; there is no import
circle; no two modules share a base name; and docs/architecture.md walks every folder and
module, so that the map a newcomer reads cannot drift from the code."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "digitgan"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

# Bottom to top: a folder (or, in cyclegan/, a module) per entry. A module may import modules
# of its own layer and of the layers below; what a lower layer needs from above comes in as an
# argument (the epoch evaluator into the training loop, the gradient reduce into Adam).
LAYERS = [
    ("basics", {"basics", "reference"}),
    ("fast", {"fast"}),
    ("data", {"data"}),
    ("config", {"config"}),
    (
        "models",
        {
            "models",
            "objectives",
            "cyclegan.cycle_networks",
            "cyclegan.cycle_objectives",
            "cyclegan.typed_augment",
        },
    ),
    ("runs", {"runs"}),
    ("training", {"training", "cyclegan.cycle_family", "cyclegan.guide"}),
    (
        "uses",
        {"evaluation", "generation", "cyclegan.cycle_scores", "cyclegan.translation", "cyclegan.reader"},
    ),
    ("api", {"api"}),
    ("serving", {"serving"}),
    ("cli", {"cli", "__main__", "__init__"}),
]
# fast/ holds the hand-written kernels: PyTorch only, so that each stands beside the op it
# replaces (each is held equal to it by a test in tests/fast/).
TORCH_ONLY = {"fast"}


def module_name(path: Path) -> str:
    """``training.loop`` for src/digitgan/training/loop.py; ``basics`` for its __init__."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


# A folder's __init__.py holds its docstring only (test below), so it is no module of a layer.
FOLDER_INITS = [p for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE]
MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if p not in FOLDER_INITS}


def layer_of(module: str) -> int:
    folder = module.split(".")[0]
    found = [i for i, (_, names) in enumerate(LAYERS) if module in names]
    found = found or [i for i, (_, names) in enumerate(LAYERS) if folder in names]
    assert len(found) == 1, f"{module} needs exactly one layer in LAYERS"
    return found[0]


def imports_of(path: Path) -> set[str]:
    """The digitgan modules a file imports, wherever in the file (a lazy import counts)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "digitgan":
            base = node.module.removeprefix("digitgan").lstrip(".")
            for alias in node.names:
                inner = f"{base}.{alias.name}".lstrip(".")
                found.add(inner if inner in MODULES else base)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("digitgan.") for a in node.names if a.name.startswith("digitgan.")}
    return found - {module_name(path), ""}


GRAPH = {module: imports_of(path) for module, path in MODULES.items()}
FOLDERS = {p.parent.name for p in FOLDER_INITS if p.parent.parent == PACKAGE}


def test_every_module_has_one_layer_and_imports_exist():
    for module, targets in GRAPH.items():
        layer_of(module)
        assert targets <= set(MODULES), (module, targets - set(MODULES))


def test_no_module_imports_from_a_layer_above_it():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in GRAPH.items()
        for target in targets
        if layer_of(target) > layer_of(module)
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


def test_the_fast_paths_import_only_torch():
    for module, path in MODULES.items():
        if module.split(".")[0] in TORCH_ONLY:
            assert {t.split(".")[0] for t in GRAPH[module]} <= TORCH_ONLY, module
            roots = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    roots.add(node.module.split(".")[0])
                elif isinstance(node, ast.Import):
                    roots |= {a.name.split(".")[0] for a in node.names}
            assert roots - set(sys.stdlib_module_names) <= {"torch", "digitgan"}, module


def test_a_folder_init_says_what_the_folder_holds_and_nothing_more():
    for path in FOLDER_INITS:
        body = ast.parse(path.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), f"{path}: a docstring only"
        assert isinstance(body[0].value, ast.Constant) and len(body[0].value.value) > 20, path


def test_no_two_modules_share_a_base_name():
    stems = [p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__"]
    twice = {s for s in stems if stems.count(s) > 1} | ({s for s in stems if s in FOLDERS})
    assert twice == set()


def test_the_architecture_page_walks_every_folder_and_module():
    text = DOC.read_text()
    files = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.stem != "__init__"]
    assert [f for f in files if f"`{f}`" not in text] == []
    assert [f for f in FOLDERS if f"`{f}/`" not in text] == []
    assert all(f"**{name}**" in text for name, _ in LAYERS)


def test_both_families_have_all_the_loop_uses_and_the_loop_uses_no_more():
    """family.Family says everything the loop and the epoch evaluator call on a family; the
    GAN and CycleGAN families have each member, taking the same arguments."""
    import inspect

    import torch

    from digitgan.config.presets import make_config
    from digitgan.cyclegan.cycle_family import CycleFamily
    from digitgan.training.family import Family
    from digitgan.training.gan_family import GanFamily

    members = {name for name in vars(Family) if not name.startswith("_")} | set(Family.__annotations__)

    def arity(function) -> list[bool]:  # the loop passes arguments by position: count them
        return [p.default is inspect.Parameter.empty for p in inspect.signature(function).parameters.values()]

    for cls in (GanFamily, CycleFamily):
        for name in members - {"arith"}:
            assert arity(getattr(cls, name)) == arity(getattr(Family, name)), (cls, name)
    assert isinstance(GanFamily(make_config("seed"), torch.device("cpu")), Family)
    used = set()
    for module in ("training.loop", "training.saves", "evaluation.scores"):
        for node in ast.walk(ast.parse(MODULES[module].read_text())):
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

    from digitgan.cli.main import COMMANDS

    probe = (
        "import sys\nfrom digitgan.cli.main import build_parser\n"
        "for argv in [['--help']] + [[c, '--help'] for c in sys.argv[1:]]:\n"
        "    try:\n        build_parser().parse_args(argv)\n    except SystemExit:\n        pass\n"
        "heavy = ('torch', 'numpy', 'PIL', 'matplotlib', 'fastapi', 'uvicorn', 'safetensors')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *COMMANDS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr.strip() == "[]", done.stderr[-500:]


def test_each_file_class_and_function_fits_its_limit():
    """One concept per module and class: no file over 400 lines, no class over 200, no
    function over 60, so that each can be read in one sitting."""
    limits = {ast.ClassDef: 200, ast.FunctionDef: 60, ast.AsyncFunctionDef: 60}
    over = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if len(text.splitlines()) > 400:
            over.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            limit = limits.get(type(node))
            if limit and node.end_lineno - node.lineno + 1 > limit:
                over.append(f"{path.name}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert over == []
