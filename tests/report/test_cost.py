"""The cost table (xlser.report.cost) on a hand-made run: benchmark files matched to the
real rules, audio seconds from manifests and splits, CUDA peaks, and the forecast by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from xlser.report.cost import benchmark_patterns, cost_table, write_cost

RULES = Path(__file__).resolve().parents[2] / "workflow" / "rules"
EMO = ["angry", "happy", "neutral", "sad"]


def bench(wd: Path, rel: str, s: float, rss: float | str = 1000.0) -> None:
    p = wd / "results" / "benchmarks" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"s\th:m:s\tmax_rss\tmax_vms\n{s}\t0:00:{int(s):02d}\t{rss}\t2000\n")


@pytest.fixture
def run(tmp_path):
    wd = tmp_path
    bench(wd, "features/W2V2-CN/ESD.tsv", 10.0, 1500.0)
    bench(wd, "features/W2V2-CN/PAVOQUE.tsv", 20.0, "-")
    bench(wd, "data/splits_ESD.tsv", 2.0)
    bench(wd, "sed/table4.tsv", 3.0)  # table4_eder's, though sed/{sed_model}.tsv (diarize) also matches
    bench(wd, "peft/W2V2-CN/ESD__ESD/lora/fold0.tsv", 30.0)
    for corpus, durs in {"ESD": [2.5] * 4, "PAVOQUE": [3.0, 3.0]}.items():
        m = wd / "results" / "corpora" / corpus / "manifest.csv"
        m.parent.mkdir(parents=True)
        pd.DataFrame({"utt_id": [f"{corpus}{i}" for i in range(len(durs))], "duration_s": durs}).to_csv(m, index=False)
    sp = wd / "results" / "splits" / "ESD.csv"
    sp.parent.mkdir(parents=True)
    pd.DataFrame({"utt_id": ["ESD0", "ESD1", "ESD2", "ESD3"], "fold": 0,
                  "partition": ["train", "train", "val", "test"]}).to_csv(sp, index=False)
    met = wd / "results" / "peft" / "W2V2-CN" / "ESD__ESD" / "lora" / "fold0" / "metrics.json"
    met.parent.mkdir(parents=True)
    met.write_text(json.dumps({"epochs": 2, "wall_time_s": 20.0}))
    usage = wd / "logs" / "peft" / "W2V2-CN" / "ESD__ESD" / "lora" / "fold0.usage.json"
    usage.parent.mkdir(parents=True)
    usage.write_text(json.dumps({"rule": "finetune", "device": "GPU X", "cuda_max_allocated_mb": 500.0,
                                 "wildcards": {"model": "W2V2-CN", "train": "ESD", "test": "ESD", "strategy": "lora",
                                               "fold": "0"}}))
    spec = {"corpora": {"ESD": {"writer": "esd", "speakers": 10, "per_speaker_emotion": 350},
                        "PAVOQUE": {"writer": "pavoque", "counts": {"neutral": 10, "happy": 2, "sad": 2, "angry": 2,
                                                                    "poker": 7}}},
            "forecast": {"finetune_epochs": 100, "probe_epochs": 100}}
    cfg = {"emotions": EMO, "corpora": {"ESD": {}, "PAVOQUE": {}},
           "splits": {"train_per_emotion": 1, "val": 4, "test": 4, "cross_val_on": "target"},
           "probe": {"max_epochs": 2}, "peft": {"folds": [0]}, "sed": {"corpus": "ZED", "per_emotion": 2}}
    protocol = {"splits": {"train_per_emotion": 400, "val": 200, "test": 200}, "peft": {"folds": [0, 1, 2, 3, 4]},
                "sed": {"per_emotion": 8}}
    return wd, spec, cfg, protocol


def test_benchmark_patterns_cover_every_rule_with_a_benchmark():
    rules = {r for r, _ in benchmark_patterns(RULES)}
    assert {"scan_corpus", "extract_features", "probe_layers", "finetune", "diarize", "table4_eder"} <= rules


def test_cost_table_by_hand(run):
    wd, spec, cfg, protocol = run
    df = cost_table(wd, RULES, spec, cfg, protocol).set_index("rule")
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
    wd, spec, cfg, protocol = run
    write_cost(wd, RULES, spec, cfg, protocol, {"scale": 0.01, "cores": 2, "workflow_s": 32.5, "build_s": 4,
                                                "returncode": 0})
    csv = pd.read_csv(wd / "results" / "tables" / "cost.csv")
    assert csv["rule"].iloc[-1] == "TOTAL"
    md = (wd / "results" / "tables" / "cost.md").read_text()
    assert "wall time 32 s" in md and "parallelism 2.0" in md  # 65 s of jobs in 32.5 s
    assert (wd / "results" / "figures" / "cost.png").stat().st_size > 1000
