"""Shared fixtures. `demo_run` runs the whole workflow once per test session on the demo
config (with `tests/e2e.yaml` on top) in a scratch copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# No test may reach a model hub: this machine (and CI) has no network, and a test that
# depends on one is not a test of this project.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
COPY = ("Snakefile", "envs", "workflow", "config", "src", "profiles", "tests")
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")


def copy_workflow(dest: Path) -> Path:
    """A scratch copy of the workflow (code and config only, no results)."""
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORE)
        else:
            shutil.copy2(src, dest / name)
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 3000) -> subprocess.CompletedProcess:
    """Run Snakemake from the project's interpreter in `workdir` with the e2e config."""
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "config/config.yaml", "tests/e2e.yaml", *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test` runs `-n auto --dist loadgroup`) every test of the finished
    demo runs in one worker, so the demo is run once, not once per worker."""
    for item in items:
        if "demo_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("demo"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The finished end-to-end demo run: a directory holding results/ (with results/benchmarks/) and logs/."""
    work = copy_workflow(tmp_path_factory.mktemp("demo"))
    snakemake(work, "--cores", "2")
    return work
