"""The cost table (xlser.report.cost) on a hand-made run: benchmark files costed as the jobs that
recorded them (xlser.smk), audio seconds from manifests and splits, CUDA peaks, the wall-time
span, and the forecast by hand."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xlser import paths
from xlser.config import resolve
from xlser.report.cost import NO_RECORD, cost_settings, cost_table, forecast_basis, write_cost
from xlser.smk import record_job, usage_path

EMO = ["angry", "happy", "neutral", "sad"]
FINETUNE = {"model": "W2V2-CN", "train": "ESD", "test": "ESD", "strategy": "lora", "fold": "0"}


T0 = 1_700_000_000.0


def bench(wd: Path, rel: str, s: float, rss: float | str = 1000.0, end: float = T0 + 100) -> None:
    """A benchmark file as Snakemake writes it when the job ends (`end`: its mtime)."""
    p = wd / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"s\th:m:s\tmax_rss\tmax_vms\n{s}\t0:00:{int(s):02d}\t{rss}\t2000\n")
    os.utime(p, (end, end))


def job(wd: Path, rule: str, wildcards: dict, s: float, rss: float | str = 1000.0, end: float = T0 + 100) -> str:
    """A job that ran: its record beside its log (as xlser.smk.setup writes it) and its benchmark file."""
    log = wd / paths.fill(paths.log(rule), **wildcards)
    log.parent.mkdir(parents=True, exist_ok=True)
    record_job(usage_path(str(log)), rule, wildcards)
    rel = paths.fill(paths.benchmark(rule), **wildcards)
    bench(wd, rel, s, rss, end)
    return rel


@pytest.fixture
def run(tmp_path):
    wd = tmp_path
    # a run from T0 to T0 + 50: the two extractions side by side, then the rest
    job(wd, "make_splits", {"corpus": "ESD"}, 2.0, end=T0 + 2)
    job(wd, "extract_features", {"model": "W2V2-CN", "corpus": "ESD"}, 10.0, 1500.0, end=T0 + 12)
    job(wd, "extract_features", {"model": "W2V2-CN", "corpus": "PAVOQUE"}, 20.0, "-", end=T0 + 22)
    job(wd, "finetune", FINETUNE, 30.0, end=T0 + 47)
    # table4_eder's: its path is also one of diarize's (sed/{sed_model}.tsv), its record says whose
    job(wd, "table4_eder", {}, 3.0, end=T0 + 50)
    for corpus, durs in {"ESD": [2.5] * 4, "PAVOQUE": [3.0, 3.0]}.items():
        m = wd / "results" / "corpora" / corpus / "manifest.csv"
        m.parent.mkdir(parents=True)
        pd.DataFrame({"utt_id": [f"{corpus}{i}" for i in range(len(durs))], "duration_s": durs}).to_csv(m, index=False)
    sp = wd / "results" / "splits" / "ESD.csv"
    sp.parent.mkdir(parents=True)
    pd.DataFrame(
        {"utt_id": ["ESD0", "ESD1", "ESD2", "ESD3"], "fold": 0, "partition": ["train", "train", "val", "test"]}
    ).to_csv(sp, index=False)
    met = wd / "results" / "peft" / "W2V2-CN" / "ESD__ESD" / "lora" / "fold0" / "metrics.json"
    met.parent.mkdir(parents=True)
    met.write_text(json.dumps({"epochs": 2, "wall_time_s": 20.0}))
    usage = wd / "logs" / "peft" / "W2V2-CN" / "ESD__ESD" / "lora" / "fold0.usage.json"  # what CUDA adds at exit
    usage.write_text(json.dumps(json.loads(usage.read_text()) | {"device": "GPU X", "cuda_max_allocated_mb": 500.0}))
    spec = {
        "corpora": {
            "ESD": {"writer": "esd", "speakers": 10, "per_speaker_emotion": 350},
            "PAVOQUE": {"writer": "pavoque", "counts": {"neutral": 10, "happy": 2, "sad": 2, "angry": 2, "poker": 7}},
            "ZED": {"writer": "zed", "per_emotion": 8},
        },
        "forecast": {"finetune_epochs": 100, "probe_epochs": 100},
    }
    cfg = {
        "emotions": EMO,
        "corpora": {
            "ESD": {"format": "esd", "root": ".", "lang": "CN"},
            "PAVOQUE": {"format": "pavoque", "root": ".", "lang": "DE"},
            "ZED": {"format": "zed", "root": ".", "lang": "EN", "role": "sed"},
        },
        "splits": {"train_per_emotion": 1, "val": 4, "test": 4, "folds": 5, "cross_val_on": "target"},
        "probe": {"max_epochs": 2},
        "peft": {"folds": [0]},
        "sed": {"corpus": "ZED", "per_emotion": 2},
    }
    protocol = {
        "splits": {"train_per_emotion": 400, "val": 200, "test": 200, "folds": 5},
        "peft": {},
        "sed": {"per_emotion": 8},
    }  # no peft.folds: every fold
    basis = forecast_basis(spec, cfg, protocol, 0.01)
    # the config that ran, as tools/rehearsal.py leaves it in its folder
    (wd / "config.yaml").write_text(yaml.safe_dump({**copy.deepcopy(cfg), "rehearsal": basis}, sort_keys=False))
    return wd, cost_settings(resolve(cfg)), basis


def test_forecast_basis_from_the_spec_and_protocol(run):
    _, settings, basis = run
    assert basis["utterances"] == {"ESD": 10 * 350 * 4, "PAVOQUE": 16, "ZED": 24}  # poker is not a study emotion
    assert (basis["peft_folds"], basis["train_per_emotion"], basis["val"], basis["sed_per_emotion"]) == (5, 400, 200, 8)
    assert settings["peft_folds"] == 1 and settings["sed_corpus"] == "ZED"


def test_cost_table_by_hand(run):
    wd, cfg, basis = run
    df = cost_table(wd, cfg, basis).set_index("rule")
    assert set(df.index) == {"extract_features", "make_splits", "table4_eder", "finetune", "TOTAL"}
    f = df.loc["extract_features"]
    assert (f["jobs"], f["wall_total_s"], f["wall_median_s"], f["max_rss_mb"]) == (2, 30.0, 15.0, 1500.0)
    assert f["audio_s"] == pytest.approx(16.0) and f["audio_s_per_s"] == pytest.approx(16 / 30)
    # overhead 2 s (the quickest fixed job); ESD: 14000 / 4 utterances, PAVOQUE: 16 / 2
    assert f["forecast_wall_s"] == pytest.approx(2 + 8 * 3500 + 2 + 18 * 8)
    ft = df.loc["finetune"]
    assert ft["audio_s"] == pytest.approx(2 * (5.0 + 2.5) + 2.5)  # epochs x (train + val) + test
    assert ft["gpu_mem_peak_mb"] == 500.0 and ft["device"] == "GPU X"
    # overhead 30 - 20 s; training x 100 epochs x 1800 utterances / (2 epochs x 8); x 5 folds
    assert ft["forecast_jobs"] == 5
    assert ft["forecast_wall_s"] == pytest.approx(5 * (10 + 20 * 100 * 1800 / 16))
    assert df.loc["table4_eder", "forecast_wall_s"] == 3.0 and df.loc["make_splits", "scales_with"] == "fixed"
    tot = df.loc["TOTAL"]
    assert (tot["jobs"], tot["wall_total_s"], tot["gpu_mem_peak_mb"]) == (5, 65.0, 500.0)


def test_write_cost_writes_table_text_and_figure(run):
    wd, cfg, basis = run
    write_cost(wd, cfg, basis, {"scale": 0.01, "cores": 2, "workflow_s": 32.5, "build_s": 4, "returncode": 1})
    csv = pd.read_csv(wd / "results" / "tables" / "cost.csv")
    assert csv["rule"].iloc[-1] == "TOTAL"
    md = (wd / "results" / "tables" / "cost.md").read_text()
    assert md.startswith("Rehearsal at scale 0.01 with --cores 2: 5 jobs, wall time 50 s")
    # the tool's last invocation is reported, but the wall time is the jobs' span (65 s of jobs in 50 s)
    assert "parallelism 1.3" in md and "last Snakemake invocation ran 32 s (inputs built in 4 s), exit status 1" in md
    assert "Forecast of the full-scale run" in md
    assert (wd / "results" / "figures" / "cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_rules_are_not_costed(run):
    """Read from the folder (the rehearsal tool after a failed run), the cost table and report
    jobs of an earlier invocation are left out, as the workflow's cost_table leaves them out."""
    wd, cfg, basis = run
    job(wd, "cost_table", {}, 4.0, end=T0 + 60)
    job(wd, "report_html", {}, 4.0, end=T0 + 70)
    df = cost_table(wd, cfg, basis).set_index("rule")
    assert not {"cost_table", "report_html"} & set(df.index) and df.loc["TOTAL", "jobs"] == 5


def test_wall_time_is_the_span_of_the_jobs(run):
    """In the workflow (no tool's run record) the wall time is first start to last end."""
    wd, cfg, basis = run
    write_cost(wd, cfg, basis)
    md = (wd / "results" / "tables" / "cost.md").read_text()
    assert "5 jobs, wall time 50 s" in md and "parallelism 1.3" in md  # 65 s of jobs from T0 to T0 + 50


def test_without_a_rehearsal_only_what_was_measured(run, tmp_path):
    """A run that is not a rehearsal: no forecast columns, no forecast text; the files named
    (the workflow's benchmark inputs) are the only ones read."""
    wd, cfg, _ = run
    files = ["results/benchmarks/features/W2V2-CN/ESD.tsv", "results/benchmarks/data/splits_ESD.tsv"]
    out = {"csv": tmp_path / "o" / "c.csv", "md": tmp_path / "o" / "c.md", "png": tmp_path / "o" / "c.png"}
    write_cost(wd, cfg, None, files=files, out=out)
    df = pd.read_csv(out["csv"]).set_index("rule")
    assert set(df.index) == {"extract_features", "make_splits", "TOTAL"}
    assert df["forecast_wall_s"].isna().all() and df.loc["TOTAL", "wall_total_s"] == 12.0
    md = out["md"].read_text()
    assert md.startswith("This run: 2 jobs, wall time 12 s") and "forecast" not in md.lower()
    assert "| extract_features |" in md


def test_jobs_without_a_benchmark_file_are_named_not_required(run):
    """A job made with --touch (or elsewhere) has no benchmark file: the table costs the others
    and says which are missing, instead of the workflow re-running the job for a table."""
    wd, cfg, _ = run
    files = ["results/benchmarks/features/W2V2-CN/ESD.tsv", "results/benchmarks/features/W2V2-EN/ESD.tsv"]
    write_cost(wd, cfg, None, files=files)
    df = pd.read_csv(wd / "results" / "tables" / "cost.csv").set_index("rule")
    assert df.loc["extract_features", "jobs"] == 1
    md = (wd / "results" / "tables" / "cost.md").read_text()
    assert "Not costed: 1 of 2 jobs have no benchmark file" in md and "W2V2-EN/ESD.tsv" in md


def test_jobs_run_before_jobs_recorded_themselves(run):
    """A benchmark file with no record (an earlier version's run) is read by its rule's declared
    pattern (xlser.paths), the most specific where two match; its CUDA peak from the record
    such jobs wrote then (no `benchmark` key); a file no pattern matches is named, not costed."""
    wd, cfg, _ = run
    for rec in (wd / "logs").rglob("*.usage.json"):
        rec.unlink()
    usage = wd / "logs" / "peft" / "W2V2-CN" / "ESD__ESD" / "lora" / "fold0.usage.json"
    usage.write_text(
        json.dumps({"rule": "finetune", "wildcards": FINETUNE, "device": "GPU X", "cuda_max_allocated_mb": 5.0})
    )
    bench(wd, "results/benchmarks/nowhere/x.tsv", 1.0)
    files = [
        "results/benchmarks/features/W2V2-CN/ESD.tsv",
        "results/benchmarks/sed/table4.tsv",  # table4_eder's literal path, also diarize's sed/{sed_model}.tsv
        "results/benchmarks/peft/W2V2-CN/ESD__ESD/lora/fold0.tsv",
        "results/benchmarks/nowhere/x.tsv",
    ]
    df = cost_table(wd, cfg, None, files=files).set_index("rule")
    assert set(df.index) == {"extract_features", "table4_eder", "finetune", "TOTAL"}
    assert df.loc["finetune", "gpu_mem_peak_mb"] == 5.0 and df.loc["finetune", "audio_s"] > 0
    assert df.attrs["uncosted"] == {"results/benchmarks/nowhere/x.tsv": NO_RECORD}
    write_cost(wd, cfg, None, files=files)
    md = (wd / "results" / "tables" / "cost.md").read_text()
    assert "Not costed: 1 of 4 jobs have neither a job record" in md and "nowhere/x.tsv" in md
    # read from the folder (the rehearsal tool): every file but the unknown one, as before
    whole = cost_table(wd, cfg, None)
    assert whole.attrs["uncosted"] == {"results/benchmarks/nowhere/x.tsv": NO_RECORD}
    assert whole.set_index("rule").loc["TOTAL", "jobs"] == 5


def test_rehearsal_tool_recosts_a_stopped_folder(run):
    """`tools/rehearsal.py --cost-only`: the folder's config and job records are all it needs
    (the jobs' rule and wildcards come from their records, not from the workflow's files)."""
    wd, cfg, basis = run
    (wd / "results" / "rehearsal_run.json").write_text(json.dumps({"scale": 0.01, "cores": 2, "returncode": 124}))
    tool = Path(__file__).resolve().parents[2] / "tools" / "rehearsal.py"
    proc = subprocess.run(
        [sys.executable, str(tool), "--cost-only", "--workdir", str(wd)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = pd.read_csv(wd / "results" / "tables" / "cost.csv").set_index("rule")
    want = pd.read_csv(io.StringIO(cost_table(wd, cfg, basis).round(3).to_csv(index=False))).set_index("rule")
    assert set(got.index) == {"extract_features", "make_splits", "table4_eder", "finetune", "TOTAL"}
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    md = (wd / "results" / "tables" / "cost.md").read_text()
    assert md.startswith("Rehearsal at scale 0.01 with --cores 2: 5 jobs") and "exit status 124" in md
