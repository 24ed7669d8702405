"""No result rests on a file that is gone (issue 23, items 13-15), checked on dry-run plans.

A "finished" demo tree is made without running a job: every output the plan names is
created empty, then `snakemake --touch --forceall` marks them done in DAG order (with
metadata, as a real run leaves it). Deleting one intermediate, or overwriting a local
checkpoint, must then re-plan its job and every table after it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from conftest import copy_workflow
from xlser.smk import checkpoint_fingerprint

# the demo with the e2e overlay, W2V2-CN and the SED model read from local checkpoint folders
CONFIG = ("--configfile", "config/config.yaml", "tests/e2e.yaml", "local.yaml")
LOCAL = {
    "models": {"W2V2-CN": {"source": "./ckpt/W2V2-CN", "lang": "CN"}},
    "sed": {"models": {"WavLM-probe": {"source": "./ckpt/WavLM-SED"}}},
}
TARGETS = ("all", "data", "figure1", "table1", "table2", "table3", "table4", "stats", "listening_kit", "cost", "report")


def dry_run(work: Path, *args: str) -> list[dict]:
    """The planned jobs of `snakemake -n` as [{rule, input, output}] (Snakemake's job listing)."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *CONFIG, "-n", *args], cwd=work, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    jobs: list[dict] = []
    for line in proc.stdout.splitlines():
        if m := re.fullmatch(r"(?:local)?rule (\w+):", line.strip()):
            jobs.append({"rule": m.group(1), "input": [], "output": []})
        elif jobs and (m := re.fullmatch(r"\s+(input|output): (.*)", line)):
            jobs[-1][m.group(1)] = m.group(2).split(", ")
    return jobs


def counts(jobs: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for j in jobs:
        out[j["rule"]] = out.get(j["rule"], 0) + 1
    return out


def checkpoint(folder: Path, weights: bytes = b"w" * 64) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "wav2vec2"}\n')
    (folder / "model.safetensors").write_bytes(weights)


def scratch(dest: Path) -> Path:
    work = copy_workflow(dest)
    (work / "local.yaml").write_text(yaml.safe_dump(LOCAL))
    checkpoint(work / "ckpt/W2V2-CN")
    checkpoint(work / "ckpt/WavLM-SED")
    return work


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = scratch(tmp_path_factory.mktemp("finished"))
    for job in dry_run(work):
        for out in (work / o for o in job["output"]):
            if "." in out.name:  # a file; the demo's directory() outputs have no suffix
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text("x\n")
            else:
                out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *CONFIG, "--touch", "--forceall", "--cores", "1"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert dry_run(work) == []
    return work


@pytest.fixture
def done(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished tree for one test to break (relative paths, mtimes kept)."""
    work = tmp_path / "w"
    shutil.copytree(finished, work, symlinks=True)  # copy2: mtimes kept, so it plans nothing either
    return work


# ---- 14, 15: every named target requires every file it is computed from


@pytest.mark.parametrize("target", TARGETS)
def test_target_requires_every_output_it_plans(tmp_path: Path, target: str) -> None:
    """From nothing, each planned job's outputs are inputs of the target job itself: lost
    later, any of them is rebuilt (Snakemake rebuilds a missing intermediate only when a job
    that runs asks for it)."""
    work = scratch(tmp_path)
    jobs = dry_run(work, target)
    [top] = [j for j in jobs if j["rule"] == target]
    made = {o for j in jobs if j is not top for o in j["output"]}
    assert len(made) > 0
    assert made <= set(top["input"]), sorted(made - set(top["input"]))


PEFT_METRICS = "results/peft/W2V2-CN/DEMO-CN__DEMO-CN/lora/fold0/metrics.json"
LOST = [  # (file lost, target, the jobs then planned)
    # one fold's file lost: its experiment and strategy's stacked job (peft.training: stacked)
    (PEFT_METRICS, "table1", {"finetune_stacked": 1, "table1_peft": 1, "table1": 1}),
    (PEFT_METRICS, "all", {"finetune_stacked": 1, "table1_peft": 1, "cost_table": 1, "report_html": 1, "all": 1}),
    (
        "results/peft/W2V2-CN/DEMO-CN__DEMO-DE/lora+ba+wg/fold0/stimuli.csv",
        "table3",
        {"finetune_stacked": 1, "table3_confusions": 1, "table3": 1},
    ),
    (
        "results/layerwise/W2V2-DE/DEMO-DE__DEMO-DE.csv",
        "figure1",
        {"probe_layers": 1, "layerwise_summary": 1, "figure1": 1},
    ),
    # the demo's grid: W2V2-EN trained on DEMO-EN, tested on each of the three SER corpora
    (
        "results/features/W2V2-EN/DEMO-EN.npz",
        "figure1",
        {"extract_features": 1, "probe_layers": 3, "layerwise_summary": 1, "figure1": 1},
    ),
    ("results/sed/WavLM-probe/frames.json", "table4", {"diarize": 1, "table4_eder": 1, "table4": 1}),
    ("results/sed/subset.csv", "table4", {"sed_subset": 1, "diarize": 1, "table4_eder": 1, "table4": 1}),
    ("results/human/responses.csv", "table2", {"ingest_listening_test": 1, "table2_human_ua": 1, "table2": 1}),
    ("results/human/responses.csv", "stats", {"ingest_listening_test": 1, "welch_tests": 1, "stats": 1}),
    ("results/listening_kit/ser_demo_cn/stimuli.csv", "listening_kit", {"build_listening_kit": 1, "listening_kit": 1}),
    (
        "results/corpora/DEMO-TJ/raw.csv",
        "data",
        {"scan_corpus": 1, "resample_corpus": 1, "listening_subset": 1, "data": 1},
    ),
]


@pytest.mark.parametrize("lost,target,expect", LOST, ids=[f"{t}-{Path(f).name}" for f, t, _ in LOST])
def test_lost_intermediate_is_rebuilt_with_what_follows(
    done: Path, lost: str, target: str, expect: dict[str, int]
) -> None:
    (done / lost).unlink()
    jobs = dry_run(done, target)
    assert counts(jobs) == expect
    assert any(lost in j["output"] for j in jobs)


def test_lost_kit_stimuli_rebuild_the_listening_tables(done: Path) -> None:
    """The default target: the kit's stimulus table is what answers are matched with."""
    (done / "results/listening_kit/ser_demo_de/stimuli.csv").unlink()
    jobs = counts(dry_run(done))
    assert jobs["build_listening_kit"] == 1 and jobs["ingest_listening_test"] == 1
    assert {"table2_human_ua", "table3_confusions", "welch_tests", "report_html"} <= set(jobs), jobs
    assert not {"finetune", "finetune_stacked", "extract_features", "probe_layers"} & set(jobs), jobs


# ---- 13: a local checkpoint overwritten in place re-plans what loaded it


def test_overwritten_checkpoint_replans_its_features_and_fine_tunes(done: Path) -> None:
    checkpoint(done / "ckpt/W2V2-CN", weights=b"v" * 80)  # new weights, saved over the old ones
    jobs = dry_run(done)
    features = [j for j in jobs if j["rule"] == "extract_features"]
    assert {Path(o).parent.name for j in features for o in j["output"]} == {"W2V2-CN"}
    assert len(features) == 3  # the three SER corpora
    tuned = [j for j in jobs if j["rule"] == "finetune_stacked"]
    assert tuned and all("/W2V2-CN/" in j["output"][0] for j in tuned)
    assert not {"diarize", "demo_model", "scan_corpus"} & set(counts(jobs)), counts(jobs)


def test_overwritten_sed_checkpoint_replans_diarization_only(done: Path) -> None:
    weights = done / "ckpt/WavLM-SED/model.safetensors"
    weights.write_bytes(weights.read_bytes())  # same size, same bytes: a new mtime
    jobs = counts(dry_run(done))
    assert jobs == {"diarize": 1, "table4_eder": 1, "cost_table": 1, "report_html": 1, "all": 1}


def test_checkpoint_fingerprint(tmp_path: Path) -> None:
    import os

    assert checkpoint_fingerprint("facebook/wav2vec2-base-960h", base=str(tmp_path)) is None  # a hub id
    ckpt = tmp_path / "a" / "ckpt"
    checkpoint(ckpt)
    first = checkpoint_fingerprint("a/ckpt", base=str(tmp_path))
    assert first is not None and first.startswith("2 files, sha1 ")
    assert checkpoint_fingerprint(str(ckpt)) == first  # absolute or relative: the same folder
    moved = tmp_path / "b" / "elsewhere"
    shutil.copytree(ckpt, moved)  # copy2 keeps mtimes: a moved folder is the same checkpoint
    assert checkpoint_fingerprint(str(moved)) == first
    seen = {first}
    st = (ckpt / "model.safetensors").stat()
    os.utime(ckpt / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched
    seen.add(checkpoint_fingerprint(str(ckpt)))
    (ckpt / "model.safetensors").write_bytes(b"w" * 65)  # other size
    seen.add(checkpoint_fingerprint(str(ckpt)))
    (ckpt / "sub").mkdir()
    (ckpt / "sub" / "extra.bin").write_bytes(b"")  # a file added (in a subfolder)
    seen.add(checkpoint_fingerprint(str(ckpt)))
    (ckpt / "config.json").rename(ckpt / "config2.json")  # renamed
    seen.add(checkpoint_fingerprint(str(ckpt)))
    assert len(seen) == 5
