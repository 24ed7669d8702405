"""A shared module never imports a stage package: the modules at the top of `xlser` (config,
sections, finetuning, paths, contracts, io, errors, metrics, experiments, device, smk, ...)
are what every stage builds on, so a stage may import them and never the other way round
(the config once imported xlser.peft.settings). Checked on the source, with ast: every
`import` and `from ... import` anywhere in the module, functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "xlser"
STAGES = sorted(p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists())
SHARED = sorted(p for p in SRC.glob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module `path` imports (absolute names; relative imports resolved inside xlser)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "xlser" if node.level else (node.module or "")
            mod = f"{base}.{node.module}" if node.level and node.module else base
            names.add(mod)
            if mod == "xlser":  # `from xlser import paths` names a module
                names |= {f"xlser.{a.name}" for a in node.names}
    return names


def test_the_stage_packages_and_shared_modules_are_found() -> None:
    assert {"data", "layerwise", "peft", "sed", "human", "report", "demo", "models"} <= set(STAGES)
    names = {p.stem for p in SHARED}
    assert {"config", "contracts", "io", "errors", "metrics", "experiments", "device", "smk", "paths"} <= names
    assert {"xlser.peft.settings", "xlser.errors"} <= imported(SRC / "peft" / "train.py")


@pytest.mark.parametrize("module", SHARED, ids=lambda p: p.stem)
def test_a_shared_module_imports_no_stage_package(module: Path) -> None:
    stages = sorted(n for n in imported(module) if n.split(".")[:2][-1] in STAGES and n.startswith("xlser."))
    assert not stages, f"{module.name} imports stage package(s) {stages}: move what is shared out of the stage"
