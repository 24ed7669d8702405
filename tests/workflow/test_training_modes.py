"""`peft.training`: stacked (the default) and separate fine-tuning write the same per-fold
files, and with no random draw (the demo's `encoder_mode: eval`, LoRA dropout 0) Table I is
the same either way. Planned: one `finetune_stacked` job per experiment and strategy, or one
`finetune` job per fold; a lost fold file re-runs its experiment and strategy's stack."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import copy_workflow, snakemake
from xlser.config import resolve

TWO_FOLDS = {"peft": {"folds": [0, 1]}}


def _plan(work: Path, overlay: dict, *args: str) -> dict[str, int]:
    """{rule: jobs} of a dry run of the demo (e2e config) with `overlay` on top."""
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    cmd = [sys.executable, "-m", "snakemake", *args, "-n", "--quiet", "rules"]
    cmd += ["--configfile", "config/config.yaml", "tests/e2e.yaml", "overlay.yaml"]  # last: it takes several
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = (proc.stdout + proc.stderr).split("Job stats:", 1)[1]
    return {m[0]: int(m[1]) for line in table.splitlines() if len(m := line.split()) == 2 and m[1].isdigit()}


def test_stacked_plans_one_job_per_experiment_and_strategy_separate_one_per_fold(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    cfg = yaml.safe_load((work / "config/config.yaml").read_text())
    cfg["peft"] |= TWO_FOLDS["peft"]
    n = len({(j.experiment, j.strategy) for j in resolve(cfg).peft_jobs})
    stacked = _plan(work, TWO_FOLDS, "table1")
    assert stacked.get("finetune_stacked") == n and "finetune" not in stacked, stacked
    separate = _plan(work, {"peft": {"folds": [0, 1], "training": "separate"}}, "table1")
    assert separate.get("finetune") == 2 * n and "finetune_stacked" not in separate, separate


def _table1(work: Path, overlay: dict, *args: str) -> pd.DataFrame:
    (work / "mode.yaml").write_text(yaml.safe_dump(overlay))
    snakemake(work, "mode.yaml", "--cores", "2", "table1", *args)  # after the --configfile list, before -R's
    return pd.read_csv(work / "results/tables/table1_peft.csv")


@pytest.mark.e2e
def test_table1_is_the_same_stacked_and_separate_without_random_draws(demo_run: Path, tmp_path: Path) -> None:
    """The finished demo (stacked) copied; LoRA dropout 0 (the demo's encoder_mode is eval: no
    other draw) re-runs its LoRA fine-tunes stacked, then `training: separate` every fine-tune
    one fold at a time (-R: a fresh start). Table I's numbers and each fold's stopping and best
    epoch agree. To keep it cheap (7 fine-tunes, about 1.5 min on 2 cores), Table I of the
    demo's trans experiment only: the one that runs every strategy, two_stage included."""
    work = tmp_path / "modes"
    shutil.copytree(demo_run, work, symlinks=True)
    cfg = yaml.safe_load((work / "config/config.yaml").read_text())
    assert resolve(cfg).peft.section["encoder_mode"] == "eval"  # no dropout, LayerDrop or time masks
    trans = [{"model": "W2V2-CN", "train": "DEMO-DE", "test": "DEMO-DE"}]
    assert trans[0] in cfg["peft"]["experiments"] and "two_stage" in cfg["peft"]["strategies"]
    no_draws = {"peft": {"experiments": trans, "lora": {**cfg["peft"]["lora"], "dropout": 0.0}}}
    stacked = _table1(work, no_draws)
    runs = {}
    for metrics in (work / "results/peft/W2V2-CN/DEMO-DE__DEMO-DE").rglob("metrics.json"):
        runs[metrics] = yaml.safe_load(metrics.read_text())
    assert len(runs) == 4 and {m["training"] for m in runs.values()} == {"stacked"}
    assert len(stacked) == 4  # frozen, lora, lora+ba+wg, two_stage
    separate = _table1(work, {"peft": {**no_draws["peft"], "training": "separate"}}, "-R", "finetune")
    for metrics, before in runs.items():
        after = yaml.safe_load(metrics.read_text())
        assert "training" not in after or after["training"] != "stacked", metrics
        assert (after["epochs"], after["best_epoch"]) == (before["epochs"], before["best_epoch"]), metrics
    keys = ["model", "train", "test", "strategy"]
    numbers = ["ua_mean", "wa_mean", "macro_f1_mean", "n_folds", "trainable_params"]
    pd.testing.assert_frame_equal(
        stacked.sort_values(keys)[keys + numbers].reset_index(drop=True),
        separate.sort_values(keys)[keys + numbers].reset_index(drop=True),
        check_exact=False,
        rtol=1e-6,
    )
