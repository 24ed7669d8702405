"""The SLURM profile: it plans the workflow, and a real (non-dry) submission through
snakemake-executor-plugin-slurm with fake SLURM tools asks GPUs for the GPU stages only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from conftest import copy_workflow

ROOT = Path(__file__).resolve().parents[2]
GPU_RULES = {"extract_features", "finetune", "diarize"}

# Fake SLURM: every call is appended to $FAKE_SLURM_LOG as one line "<tool> <args...>"
# (sbatch also records its stdin, the job script). sbatch answers like `sbatch --parsable`
# ("<jobid>"), sacct/squeue report every job FAILED, so Snakemake stops right after submitting.
FAKE = {
    "sbatch": r"""#!/bin/sh
# one file per call (jobs are submitted concurrently): the arguments, one per line
for a in "$@"; do printf '%s\n' "$a" | tr '\n' ' '; printf '\n'; done > "$FAKE_SLURM_DIR/sbatch.$$"
cat > /dev/null
echo "$$"
""",
    "sacct": r"""#!/bin/sh
echo "sacct $*" >> "$FAKE_SLURM_LOG"
for f in "$FAKE_SLURM_DIR"/sbatch.*; do [ -e "$f" ] && echo "${f##*.}|FAILED|1:0"; done
""",
    "squeue": r"""#!/bin/sh
echo "squeue $*" >> "$FAKE_SLURM_LOG"
""",
    "sinfo": r"""#!/bin/sh
echo "sinfo $*" >> "$FAKE_SLURM_LOG"
echo "cpu gpu"
""",
    "scontrol": r"""#!/bin/sh
echo "scontrol $*" >> "$FAKE_SLURM_LOG"
echo "MinJobAge=300"
""",
    "sacctmgr": r"""#!/bin/sh
echo "sacctmgr $*" >> "$FAKE_SLURM_LOG"
echo "YOUR_ACCOUNT"
""",
    "sshare": r"""#!/bin/sh
echo "sshare $*" >> "$FAKE_SLURM_LOG"
echo "YOUR_ACCOUNT"
""",
    "scancel": r"""#!/bin/sh
echo "scancel $*" >> "$FAKE_SLURM_LOG"
""",
}


def _profile() -> dict:
    return yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())


def test_profile_asks_gpus_for_gpu_stages_only() -> None:
    prof = _profile()
    assert prof["executor"] == "slurm"
    for key in ("slurm_account", "slurm_partition", "runtime", "mem_mb"):
        assert key in prof["default-resources"]
    assert "gpu" not in prof["default-resources"]
    for rule, res in prof["set-resources"].items():
        assert (res.get("gpu", 0) >= 1) == (rule in GPU_RULES), rule
        if rule in GPU_RULES:
            assert res["cpus_per_gpu"] >= 1 and res["mem_mb"] >= 16000 and res["runtime"] >= 60
    assert "params" in prof["rerun-triggers"]


def test_dry_run_with_slurm_executor(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)  # no results yet: the whole workflow is planned
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--executor", "slurm", "--workflow-profile", "profiles/slurm"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for rule in ("extract_features", "finetune", "diarize", "report_html"):
        assert rule in out, rule


def _fake_upstream(work: Path, targets: list[str]) -> None:
    """Create every upstream output of `targets` as a stub, so only the targets' own jobs run."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-D", *targets], cwd=work, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    made: list[Path] = []
    for line in proc.stdout.splitlines()[1:]:
        path = line.split("\t")[0]
        if not path or path in targets or path.startswith(("Building", "Job")):
            continue
        p = work / path
        if not p.suffix or p.name == "wav":  # directory() outputs: corpus roots, model dirs, wav dirs
            p.mkdir(parents=True, exist_ok=True)
            made.append(p)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("stub\n")
            made.append(p)
    for p in made:  # one timestamp for all: nothing upstream looks newer than its outputs
        os.utime(p, (1_700_000_000, 1_700_000_000))


@pytest.fixture(scope="module")
def submissions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """{rule: sbatch command line} of a real submission with the slurm profile."""
    base = tmp_path_factory.mktemp("slurm")
    (base / "w").mkdir()
    work = copy_workflow(base / "w")
    fake = base / "bin"
    fake.mkdir()
    for name, body in FAKE.items():
        (fake / name).write_text(body)
        (fake / name).chmod((fake / name).stat().st_mode | stat.S_IEXEC)
    targets = [
        "results/features/W2V2-CN/DEMO-CN.npz",  # extract_features (GPU)
        "results/sed/WavLM-probe/frames.json",  # diarize (GPU)
        "results/splits/DEMO-DE.csv",
    ]  # make_splits (CPU)
    _fake_upstream(work, targets)
    log = base / "slurm.log"
    env = dict(
        os.environ, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}", FAKE_SLURM_LOG=str(log), FAKE_SLURM_DIR=str(base)
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            *targets,
            "--workflow-profile",
            "profiles/slurm",
            "--rerun-triggers",
            "mtime",
            "--retries",
            "0",
            "--slurm-init-seconds-before-status-checks",
            "1",
            "--seconds-between-status-checks",
            "1",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    text = log.read_text() if log.exists() else ""
    out: dict[str, str] = {}
    for f in sorted(base.glob("sbatch.*")):
        args = [a.strip() for a in f.read_text().splitlines()]
        comment = args[args.index("--comment") + 1] if "--comment" in args else ""
        rule = comment.removeprefix("rule_").split("_wildcards_")[0]
        # normalise "--flag value" pairs to "--flag=value" so tests need not know the spelling
        flags = " ".join(
            args[: args.index(next(a for a in args if a.startswith("--wrap")))]
            if any(a.startswith("--wrap") for a in args)
            else args
        )
        out.setdefault(rule, flags)
    assert out, f"no sbatch call recorded:\n{text}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out


def test_gpu_jobs_request_gpus(submissions: dict[str, str]) -> None:
    for rule in ("extract_features", "diarize"):
        line = submissions[rule]
        assert "--gpus=a100:1" in line or "--gres=gpu:a100:1" in line, line
        assert "--cpus-per-gpu=4" in line, line
        assert "-p gpu" in line or "--partition=gpu" in line, line
        assert "-A YOUR_ACCOUNT" in line or "--account=YOUR_ACCOUNT" in line, line
        assert "--mem 32000" in line or "--mem=32000" in line, line
        assert "-t 240" in line or "--time=240" in line, line


def test_cpu_jobs_do_not_request_gpus(submissions: dict[str, str]) -> None:
    line = submissions["make_splits"]
    assert "--gpus" not in line and "gres=gpu" not in line, line
    assert "-p cpu" in line or "--partition=cpu" in line, line
    assert "--mem 4000" in line or "--mem=4000" in line, line
    assert "--cpus-per-task=1" in line, line
