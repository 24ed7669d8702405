"""The curated mutants (`make mutants`) stay valid: each snippet occurs exactly once in its
file, the mutant differs from it, and every test it names exists. A refactor that moves a
snippet fails here (cheaply, in `make test`) instead of silently dropping the mutant."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("mutants_tool", ROOT / "tools" / "mutants.py")
mutants_tool = sys.modules.setdefault("mutants_tool", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(mutants_tool)
MUTANTS = mutants_tool.load_mutants(ROOT / "src" / "xlser")


def test_enough_mutants_over_every_area():
    assert len(MUTANTS) >= 25
    areas = {m.id.split(".")[0] for m in MUTANTS}
    assert {"metrics", "pooling", "layer", "splits", "peft", "sed", "human"} <= areas


@pytest.mark.parametrize("m", MUTANTS, ids=lambda m: m.id)
def test_mutant_snippet_is_unique_and_its_tests_exist(m):
    text = (ROOT / m.path).read_text(encoding="utf-8")
    assert text.count(m.original) == 1, f"stale mutant {m.id}: update its snippet in {m.spec}"
    assert text.replace(m.original, m.mutant) != text
    for t in m.tests:
        file, _, name = t.partition("::")
        source = (ROOT / file).read_text(encoding="utf-8")
        if name:
            assert re.search(rf"^def {re.escape(name.split('[')[0])}\(", source, re.M), f"{m.id}: no test {t}"
