"""The package is split by stage like rules/: a subpackage imports only from the layers below it (no cycles, no
upward imports), so a stage's logic can be read and tested without the stages after it."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "online_rlhf"
# Lower layers first; `config` (validation), `config_docs` (docs/config.md from the schema) and `preflight` read every
# stage's settings, so they sit on top.
LAYERS = ["core", "world", "data", "train", "judges", "online", "evaluate", "report", "provenance", "experiments", "config", "config_docs", "preflight"]


def imported_subpackages(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("online_rlhf."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("online_rlhf.")}
    return out


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_module_sits_in_a_known_layer():
    strays = [p for p in PACKAGE.rglob("*.py") if layer_of(p) not in LAYERS + ["__init__"]]
    assert not strays, f"modules outside the stage subpackages {LAYERS}: {strays}"


def test_no_upward_imports():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        layer = layer_of(path)
        if layer == "__init__":
            continue
        for dep in imported_subpackages(path):
            if LAYERS.index(dep) > LAYERS.index(layer):
                upward.append(f"{path.relative_to(PACKAGE)} ({layer}) imports online_rlhf.{dep}")
    assert not upward, "upward imports:\n" + "\n".join(upward)
