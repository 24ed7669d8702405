"""The SLURM profiles: they plan the workflow, and a real (non-dry) submission through
snakemake-executor-plugin-slurm with fake SLURM tools renders each rule's sbatch flags: GPUs for
the GPU stages only and only in the GPU profile (profiles/slurm), none in the CPU-only variant
(profiles/slurm-cpu); no account unless the user sets one; CPUs equal to the threads the job
computes with; job states from squeue (a cluster without accounting)."""

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
GPU_RULES = {"extract_features", "finetune", "finetune_stacked", "diarize"}
PROFILES = ("slurm", "slurm-cpu")
TORCH_THREADS = 2  # the config's, in the submissions below: what model jobs compute with on CPU

# Fake SLURM: every call but sbatch is appended to $FAKE_SLURM_LOG as one line "<tool> <args...>";
# sbatch writes its arguments, one per line, to a file of its own and answers like `sbatch
# --parsable` ("<jobid>"). The status queries report every job FAILED, so Snakemake stops right
# after submitting. sacct answers only the status query (-X): the account guess (`sacct -nu`)
# finds no recent job, as for a new user. sinfo names the default partition `main`.
FAKE = {
    "sbatch": r"""#!/bin/sh
# one file per call (jobs are submitted concurrently): the arguments, one per line
for a in "$@"; do printf '%s\n' "$a" | tr '\n' ' '; printf '\n'; done > "$FAKE_SLURM_DIR/sbatch.$$"
cat > /dev/null
echo "$$"
""",
    "sacct": r"""#!/bin/sh
echo "sacct $*" >> "$FAKE_SLURM_LOG"
[ "$1" = "-X" ] || exit 0
for f in "$FAKE_SLURM_DIR"/sbatch.*; do [ -e "$f" ] && echo "${f##*.}|FAILED"; done
""",
    "squeue": r"""#!/bin/sh
echo "squeue $*" >> "$FAKE_SLURM_LOG"
for f in "$FAKE_SLURM_DIR"/sbatch.*; do [ -e "$f" ] && echo "${f##*.}|FAILED"; done
""",
    "sinfo": r"""#!/bin/sh
echo "sinfo $*" >> "$FAKE_SLURM_LOG"
printf 'PARTITION\nmain*\ngpu\n'
""",
    "scontrol": r"""#!/bin/sh
echo "scontrol $*" >> "$FAKE_SLURM_LOG"
echo "MinJobAge               = 300 sec"
""",
    "sacctmgr": r"""#!/bin/sh
echo "sacctmgr $*" >> "$FAKE_SLURM_LOG"
echo "myproject"
""",
    "sshare": r"""#!/bin/sh
echo "sshare $*" >> "$FAKE_SLURM_LOG"
echo "myproject"
""",
    "scancel": r"""#!/bin/sh
echo "scancel $*" >> "$FAKE_SLURM_LOG"
""",
}


def _profile(name: str = "slurm") -> dict:
    return yaml.safe_load((ROOT / "profiles" / name / "config.yaml").read_text())


def test_profiles_as_shipped() -> None:
    """No placeholder to replace: no account, partition or GPU model unless the user sets one;
    GPUs only for the GPU stages of the GPU profile; job states from squeue."""
    for name in PROFILES:
        prof = _profile(name)
        assert prof["executor"] == "slurm" and prof["slurm-status-command"] == "squeue", name
        assert "params" in prof["rerun-triggers"]
        assert set(prof["default-resources"]) == {"runtime", "mem_mb"}, name
        for rule, res in prof["set-resources"].items():
            assert not {"slurm_account", "slurm_partition", "gpu_model", "cpus_per_task", "cpus_per_gpu"} & set(res)
            assert (res.get("gpu", 0) >= 1) == (name == "slurm" and rule in GPU_RULES), (name, rule)
            assert res["mem_mb"] <= 24000 and res["runtime"] >= 60, (name, rule)  # a typical node's
        text = (ROOT / "profiles" / name / "config.yaml").read_text()
        assert "YOUR_ACCOUNT" not in text and "--set-resources, or --set-threads" not in text
        assert "--default-resources, --set-resources or --set-threads" in text  # the override warning
    assert _profile("slurm")["set-threads"] == dict.fromkeys(sorted(GPU_RULES), 4)
    assert "set-threads" not in _profile("slurm-cpu")  # model jobs ask for torch_threads CPUs


@pytest.mark.parametrize("profile", PROFILES)
def test_dry_run_with_slurm_executor(tmp_path: Path, profile: str) -> None:
    work = copy_workflow(tmp_path)  # no results yet: the whole workflow is planned
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--workflow-profile", f"profiles/{profile}"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for rule in ("extract_features", "finetune_stacked", "diarize", "report_html"):
        assert rule in out, rule


def _fake_upstream(work: Path, targets: list[str], *args: str) -> None:
    """Create every upstream output of `targets` as a stub, so only the targets' own jobs run."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-D", *targets, *args],  # --configfile takes several: last
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
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


@pytest.fixture(scope="module", params=PROFILES)
def submissions(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """{rule: sbatch command line} of a real submission with the profile (the demo config with
    torch_threads = TORCH_THREADS); key "": the profile's name, "status": the other calls made."""
    profile = request.param
    base = tmp_path_factory.mktemp(profile)
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
        "results/layerwise/W2V2-DE/DEMO-CN__DEMO-CN.csv",  # probe_layers (CPU, torch threads)
        "results/splits/DEMO-DE.csv",  # make_splits (CPU)
        "results/peft/W2V2-CN/DEMO-CN__DEMO-CN/lora/fold0/metrics.json",  # finetune_stacked (GPU)
    ]
    # the fine-tune's layer pinned: a chosen one would wait for best_layers.csv, after the probe above
    pinned = {"peft": {"experiments": [{"model": "W2V2-CN", "train": "DEMO-CN", "test": "DEMO-CN", "layer": 2}]}}
    (work / "pinned.yaml").write_text(yaml.safe_dump(pinned))
    configs = ["--configfile", "config/config.yaml", "pinned.yaml"]
    _fake_upstream(work, targets, *configs)
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
            *configs,
            "--workflow-profile",
            f"profiles/{profile}",
            "--config",
            f"torch_threads={TORCH_THREADS}",
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
    return out | {"": profile, "status": text}


def _flag(line: str, flag: str) -> str | None:
    """The value of `-x v`, `--flag v` or `--flag=v` in an sbatch line (None when absent)."""
    words = line.split()
    for i, w in enumerate(words):
        if w == flag and i + 1 < len(words):
            return words[i + 1]
        if w.startswith(f"{flag}="):
            return w.split("=", 1)[1]
    return None


def test_no_account_unless_set_and_the_default_partition(submissions: dict[str, str]) -> None:
    for rule, line in submissions.items():
        if rule in ("", "status"):
            continue
        assert _flag(line, "-A") is None and _flag(line, "--account") is None, line
        assert _flag(line, "-p") == "main" or _flag(line, "--partition") == "main", line  # sinfo's default


def test_gpus_only_for_gpu_stages_of_the_gpu_profile(submissions: dict[str, str]) -> None:
    gpu_profile = submissions[""] == "slurm"
    for rule in ("extract_features", "diarize", "finetune_stacked", "probe_layers", "make_splits"):
        line = submissions[rule]
        gpus = _flag(line, "--gpus")
        assert gpus == ("1" if gpu_profile and rule in GPU_RULES else None), line
        assert "gres" not in line and "--cpus-per-gpu" not in line, line


def test_cpus_per_task_are_the_threads_the_job_computes_with(submissions: dict[str, str]) -> None:
    """CPU profile: model jobs compute with torch_threads on CPU and ask for exactly that many;
    GPU profile: GPU jobs hold set-threads (4) and compute with all of them on CUDA; CPU jobs 1."""
    gpu_profile = submissions[""] == "slurm"
    want = {
        "extract_features": 4 if gpu_profile else TORCH_THREADS,
        "diarize": 4 if gpu_profile else TORCH_THREADS,
        "finetune_stacked": 4 if gpu_profile else TORCH_THREADS,
        "probe_layers": TORCH_THREADS,
        "make_splits": 1,
    }
    for rule, n in want.items():
        assert _flag(submissions[rule], "--cpus-per-task") == str(n), (rule, submissions[rule])


def test_memory_and_runtime_per_rule(submissions: dict[str, str]) -> None:
    prof = _profile(submissions[""])
    for rule in ("extract_features", "diarize", "finetune_stacked", "probe_layers", "make_splits"):
        res = prof["default-resources"] | prof["set-resources"].get(rule, {})
        line = submissions[rule]
        assert _flag(line, "--mem") == str(res["mem_mb"]) and _flag(line, "-t") == str(res["runtime"]), line


def test_job_states_come_from_squeue(submissions: dict[str, str]) -> None:
    calls = submissions["status"].splitlines()
    assert any(c.startswith("squeue --format=") and "--states=all" in c for c in calls), calls
    assert not any(c.startswith("sacct -X") for c in calls), calls  # the status query of accounting


def test_compute_threads_follow_the_device() -> None:
    """What the model jobs compute with (xlser.device.compute_threads): torch_threads on CPU
    whatever the job holds; on CUDA all the CPUs the job holds."""
    import torch

    from xlser.device import compute_threads

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compute_threads(cpu, 2, 4) == 2 and compute_threads(cpu, 2, 1) == 2 and compute_threads(cpu, 3) == 3
    assert compute_threads(cuda, 1, 4) == 4 and compute_threads(cuda, 2, None) == 2
