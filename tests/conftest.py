"""Shared fixtures. `demo_run` runs the whole workflow once per test session on the demo
config (with `tests/e2e.yaml` on top) in a scratch copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist (`make test` runs `-n auto`) every test module that uses the finished
    demo (`demo_run`) is one scheduling unit, so the demo runs once, in one worker, while the
    others take the rest test by test. (`--dist loadgroup` with `xdist_group` marks would say
    this, but pytest-xdist 3.8 groups by renaming node ids, which pytest 9 ignores.)"""
    from xdist.scheduler import LoadScopeScheduling

    demo_modules = {
        f.relative_to(config.rootpath).as_posix()
        for f in (ROOT / "tests").rglob("test_*.py")
        if "demo_run" in f.read_text(encoding="utf-8")
    }

    class DemoTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "demo_run" if nodeid.split("::", 1)[0] in demo_modules else nodeid

    return DemoTogether(config, log)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The finished end-to-end demo run: a directory holding results/ (with results/benchmarks/) and logs/."""
    work = copy_workflow(tmp_path_factory.mktemp("demo"))
    snakemake(work, "--cores", "2")
    return work
