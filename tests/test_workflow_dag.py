"""The workflow parses, validates its config and plans every stage from the default config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _dry_run(*args: str) -> str:
    proc = subprocess.run([*SNAKEMAKE, "-n", "--quiet", "rules", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_dry_run_lists_the_data_stage() -> None:
    out = _dry_run()
    for rule in ("demo_corpus", "scan_corpus", "resample_corpus", "make_splits"):
        assert rule in out
