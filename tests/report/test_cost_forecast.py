"""The fine-tuning forecast (xlser.report.cost.finetune_forecast) by hand: bound (the epoch
budget) and expected (the study's stopping epochs), separate and stacked (a stack's step
ratio), and a stacked job costed as one job whose time its folds share."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from test_cost import EMO, T0, job

from xlser import paths
from xlser.report.cost import (
    cost_table,
    expected_epochs,
    finetune_forecast,
    forecast_assumptions,
    forecast_basis,
    write_cost,
)

# the run: 1 training utterance per emotion + 4 validation = 8 utterances an epoch; full: 1800
CFG = {"emotions": EMO, "train_per_emotion": 1, "val": 4, "peft_folds": 1, "probe_max_epochs": 2}
BASIS = {
    "train_per_emotion": 400,
    "val": 200,
    "peft_folds": 5,
    "finetune_epochs": 100,
    "finetune_expected_epochs": 19,
    "two_stage_expected_epochs": 49,
    "stack_step_ratio": 0.25,
}
U = 1800 / 8  # utterances at full scale over the run's


def test_separate_job_bound_and_expected():
    # a 30 s job that trained 20 s for 2 epochs: 10 s overhead; one model's epoch at full scale 10 x U
    f = finetune_forecast(30.0, 20.0, 1, 2.0, "lora", BASIS, CFG)
    per_epoch = 20 * U / 2
    assert f["separate_bound"] == pytest.approx(5 * (10 + per_epoch * 100))
    assert f["separate_expected"] == pytest.approx(5 * (10 + per_epoch * 19))
    # stacked: one job for the 5 folds, each step 0.25 x the separate steps' time
    assert f["stacked_bound"] == pytest.approx(10 + 5 * 0.25 * per_epoch * 100)
    assert f["stacked_expected"] == pytest.approx(10 + 5 * 0.25 * per_epoch * 19)
    assert (f["separate_jobs"], f["stacked_jobs"]) == (5, 1)


def test_two_stage_expects_the_study_schedules_49_epochs_and_never_more_than_the_budget():
    f = finetune_forecast(30.0, 20.0, 1, 2.0, "two_stage", BASIS, CFG)
    assert f["separate_expected"] == pytest.approx(5 * (10 + 20 * U / 2 * 49))
    assert expected_epochs("two_stage", BASIS) == 49 and expected_epochs("lora", BASIS) == 19
    assert expected_epochs("lora", {**BASIS, "finetune_epochs": 12}) == 12


def test_a_measured_stack_is_undone_to_one_models_time():
    """A stack of 2 of the run's 2 folds, 40 s of training for 4 epochs: one model's separate
    epoch is 40 / (4 x 2 x ratio) at run size; it stands for the whole experiment-strategy."""
    cfg = {**CFG, "peft_folds": 2}
    f = finetune_forecast(45.0, 40.0, 2, 4.0, "lora", BASIS, cfg)
    per_epoch = 40 * U / (4 * 2 * 0.25)
    assert f["separate_bound"] == pytest.approx(5 * (5 + per_epoch * 100))
    assert f["stacked_bound"] == pytest.approx(5 + 5 * 0.25 * per_epoch * 100)
    assert (f["separate_jobs"], f["stacked_jobs"]) == (5, 1)
    # one of the two folds run separately stands for half of it
    half = finetune_forecast(25.0, 20.0, 1, 4.0, "lora", BASIS, cfg)
    assert (half["separate_jobs"], half["stacked_jobs"]) == (2.5, 0.5)


def test_a_protocol_of_one_fold_stacks_nothing():
    f = finetune_forecast(30.0, 20.0, 1, 2.0, "lora", {**BASIS, "peft_folds": 1}, CFG)
    assert f["stacked_bound"] == pytest.approx(f["separate_bound"])


def test_an_older_rehearsal_section_gets_the_schemas_assumptions():
    old = {k: v for k, v in BASIS.items() if k in ("train_per_emotion", "val", "peft_folds", "finetune_epochs")}
    got = forecast_assumptions(old)
    assert (got["finetune_expected_epochs"], got["two_stage_expected_epochs"]) == (19, 49)
    assert got["stack_step_ratio"] > 0 and got["finetune_epochs"] == 100
    # the spec's values win over the schema's
    spec = {"corpora": {}, "forecast": {"finetune_expected_epochs": 30, "stack_step_ratio": 0.2}}
    cfg = {"emotions": EMO, "corpora": {}}
    protocol = {"splits": {"train_per_emotion": 400, "val": 200, "folds": 5}}
    basis = forecast_basis(spec, cfg, protocol, 0.01)
    assert (basis["finetune_expected_epochs"], basis["two_stage_expected_epochs"], basis["stack_step_ratio"]) == (
        30,
        49,
        0.2,
    )


STACK = {"model": "W2V2-CN", "train": "ESD", "test": "ESD", "strategy": "lora"}


@pytest.fixture
def stacked_run(tmp_path: Path):
    """A rehearsal-like folder with one finetune_stacked job over folds 0 and 1."""
    wd = tmp_path
    job(wd, "make_splits", {"corpus": "ESD"}, 2.0, end=T0 + 2)
    job(wd, "finetune_stacked", STACK, 50.0, end=T0 + 52)
    m = wd / paths.fill(paths.MANIFEST, corpus="ESD")
    m.parent.mkdir(parents=True)
    ids = [f"ESD{i}" for i in range(8)]
    pd.DataFrame({"utt_id": ids, "duration_s": [2.0] * 8}).to_csv(m, index=False)
    sp = wd / paths.fill(paths.SPLITS, corpus="ESD")
    sp.parent.mkdir(parents=True)
    parts = ["train", "train", "val", "test"]
    pd.DataFrame(
        {"utt_id": ids, "fold": [0] * 4 + [1] * 4, "partition": parts * 2},
    ).to_csv(sp, index=False)
    # the stack trained 40 s: fold 0 stopped after 3 epochs (30 s of it), fold 1 ran 4 (all 40 s)
    for fold, (epochs, wall) in {0: (3, 30.0), 1: (4, 40.0)}.items():
        p = wd / paths.fill(paths.PEFT_METRICS, **STACK, fold=fold)
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps({"epochs": epochs, "wall_time_s": wall, "training": "stacked", "stack_size": 2}))
    cfg = {
        "emotions": EMO,
        "train_per_emotion": 1,
        "val": 4,
        "cross_val_on": "target",
        "probe_max_epochs": 2,
        "peft_folds": 2,
        "peft_fold_list": [0, 1],
        "sed_corpus": "",
        "sed_per_emotion": 2,
    }
    basis = {"scale": 0.01, "utterances": {"ESD": 14000}, "sed_per_emotion": 8, "probe_epochs": 100, **BASIS}
    return wd, cfg, basis


def test_a_stacked_job_is_one_row_its_folds_audio_and_both_modes(stacked_run):
    wd, cfg, basis = stacked_run
    df = cost_table(wd, cfg, basis).set_index("rule")
    st = df.loc["finetune_stacked"]
    assert st["jobs"] == 1 and st["wall_total_s"] == 50.0
    # per fold: epochs x (train 4 s + val 2 s) + test 2 s
    assert st["audio_s"] == pytest.approx(3 * 6 + 2 + 4 * 6 + 2)
    want = finetune_forecast(50.0, 40.0, 2, 4.0, "lora", basis, cfg)
    assert st["forecast_jobs"] == 1 and st["forecast_wall_s"] == pytest.approx(want["stacked_bound"])
    assert st["forecast_expected_s"] == pytest.approx(want["stacked_expected"])
    assert df.attrs["finetune"] == pytest.approx(want)
    assert df.loc["TOTAL", "forecast_expected_s"] == pytest.approx(want["stacked_expected"] + 2.0)
    write_cost(wd, cfg, basis)
    md = (wd / paths.COST_TABLE).with_suffix(".md").read_text()
    assert "h expected with early stopping" in md and "| training | jobs | bound, h | expected, h |" in md
    sep = f"| separate | 5 | {want['separate_bound'] / 3600:.1f} | {want['separate_expected'] / 3600:.1f} |"
    assert sep in md and "| stacked | 1 |" in md and "time is shared by its folds" in md


def test_a_stacked_job_without_its_metrics_is_still_costed(stacked_run):
    wd, cfg, basis = stacked_run
    (wd / paths.fill(paths.PEFT_METRICS, **STACK, fold=1)).unlink()
    df = cost_table(wd, cfg, basis).set_index("rule")
    assert df.loc["finetune_stacked", "jobs"] == 1 and not math.isnan(df.loc["finetune_stacked", "forecast_wall_s"])
