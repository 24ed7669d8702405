"""Stacked fine-tuning without random draws (encoder in eval mode, LoRA dropout 0): every fold
model trained in the stack ends as its separate run does (weights, validation curve, stopping
epoch, test and stimulus predictions, to float rounding), for every strategy and both
two-stage schedules, with folds stopping at different epochs and batch sizes 1 and 4; a kill
mid-round resumes to the uninterrupted run's outputs; encoders that cannot be stacked fall
back to separate runs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import stack_fixtures as fx
import torch

from xlser.peft import stack as stack_mod
from xlser.peft import train as train_mod
from xlser.peft.stack import run_stacked
from xlser.peft.train import run_finetune

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    return fx.data(root) | {"model": fx.save_model(root / "model")}


@pytest.fixture
def curves(monkeypatch):
    """Every epoch's (train loss, val loss, val UA) per checkpoint folder, as the Trainer records them."""
    seen: dict[str, list[tuple[float, float, float]]] = {}
    real = train_mod.Trainer.record_epoch

    def record(self, tr_loss, val_loss, probs, val, seconds):
        real(self, tr_loss, val_loss, probs, val, seconds)
        seen.setdefault(str(self.ckpt_dir), []).append((tr_loss, val_loss, self.state["history"][-1]["val_ua"]))

    monkeypatch.setattr(train_mod.Trainer, "record_epoch", record)
    return seen


SAME = ("epochs", "best_epoch", "best_stage", "stage_epochs", "val_ua", "ua", "wa", "macro_f1", "layers_kept")


def assert_same_runs(sep, stk, rs, rk, curves) -> None:
    """Stacked runs `stk` end as the separate runs `sep` (to float rounding)."""
    for a, b, ja, jb in zip(rs, rk, sep, stk):
        assert {k: a[k] for k in SAME} == {k: b[k] for k in SAME}, ja.name
        assert (b["training"], b["stack_size"]) == ("stacked", len(stk)) and "training" not in a
        wa, wb = fx.weights(ja), fx.weights(jb)
        assert wa.keys() == wb.keys()
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=2e-5, msg=k)
        ca, cb = np.array(curves[ja.checkpoint_dir]), np.array(curves[jb.checkpoint_dir])
        np.testing.assert_allclose(ca, cb, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(fx.probs(ja.outputs.predictions), fx.probs(jb.outputs.predictions), atol=1e-5)
        pa, pb = pd.read_csv(ja.outputs.stimuli), pd.read_csv(jb.outputs.stimuli)
        assert list(pa.columns) == list(pb.columns) and pa["utt_id"].tolist() == pb["utt_id"].tolist()
        np.testing.assert_allclose(fx.probs(ja.outputs.stimuli), fx.probs(jb.outputs.stimuli), atol=1e-5)
        assert not Path(jb.checkpoint_dir).exists()  # deleted once every output is written


CASES = {
    # strategy, experiment, per-fold optimiser settings (batch size, budget, patience), settings
    "frozen": ("frozen", "CA", "CB", [{"max_epochs": 2}, {"max_epochs": 4}, {"batch_size": 1}], {}),
    "lora": ("lora", "CB", "CB", [{"batch_size": 1}, {"max_epochs": 2}, {"batch_size": 3, "max_epochs": 4}], {}),
    "lora+ba+wg": (
        "lora+ba+wg",
        "CA",
        "CB",
        [{"max_epochs": 4}, {"lr": 0.02, "patience": 1, "max_epochs": 6}, {"batch_size": 1, "max_epochs": 2}],
        {"standardize": True, "cross_val_on": "target"},
    ),
    "two_stage-stagewise": ("two_stage", "CB", "CB", [{"max_epochs": 2}, {"max_epochs": 3}, {"batch_size": 2}], {}),
    "two_stage-study": (
        "two_stage",
        "CB",
        "CB",
        [{"max_epochs": 4}, {"max_epochs": 6}, {"max_epochs": 5, "batch_size": 1}],
        {"two_stage_schedule": "study"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stacked_models_end_as_their_separate_runs(data, tmp_path, curves, case):
    strategy, train, test, optims, settings = CASES[case]

    def jobs(where):
        return [
            fx.job(data, data["model"], tmp_path / where, f, strategy, train, test, optim=o, listening=True, **settings)
            for f, o in enumerate(optims)
        ]

    sep, stk = jobs("sep"), jobs("stk")
    rs = [run_finetune(j) for j in sep]
    rk = run_stacked(stk)
    assert_same_runs(sep, stk, rs, rk, curves)
    assert len({r["epochs"] for r in rk}) > 1  # the folds stopped at different epochs: they left the stack
    assert all(r["stack_padding"] >= 1.0 for r in rk)


def test_batch_1_every_fold_one_row_per_step(data, tmp_path, curves):
    """The study's batch size 1: one utterance of every fold per step (no gather: each slot's row)."""
    sep = [fx.job(data, data["model"], tmp_path / "sep", f, optim={"batch_size": 1, "max_epochs": 2}) for f in range(3)]
    stk = [fx.job(data, data["model"], tmp_path / "stk", f, optim={"batch_size": 1, "max_epochs": 2}) for f in range(3)]
    steps = []
    real = stack_mod.train_step

    def spy(stack, members, batch):
        steps.append((len(members), len(batch.owner)))
        return real(stack, members, batch)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stack_mod, "train_step", spy)
        rk = run_stacked(stk)
    rs = [run_finetune(j) for j in sep]
    assert_same_runs(sep, stk, rs, rk, curves)
    assert len(steps) == 2 * 16 and set(steps) == {(3, 3)}  # 16 training utterances per fold


class Killed(Exception):
    pass


def test_kill_mid_round_then_resume_ends_like_the_uninterrupted_run(data, tmp_path, monkeypatch):
    """Byte for byte: every model resumes from its own last checkpoint and repeats the round (the
    cached CNN features are computed per utterance alone: the same bits in any batch)."""
    model = data["model"]
    jobs = {
        d: [fx.job(data, model, tmp_path / d, f, optim={"max_epochs": 3 + f}) for f in range(3)] for d in ("ref", "run")
    }
    ref = run_stacked(jobs["ref"])
    calls = {"n": 0}
    real = stack_mod.train_step

    def dies(stack, members, batch):  # 4 steps per round: die at the second step of round 2
        calls["n"] += 1
        if calls["n"] == 6:
            raise Killed
        return real(stack, members, batch)

    with monkeypatch.context() as mp:
        mp.setattr(stack_mod, "train_step", dies)
        with pytest.raises(Killed):
            run_stacked(jobs["run"])
    for j in jobs["run"]:
        progress = json.loads((Path(j.checkpoint_dir) / "progress.json").read_text())
        assert progress["total_epochs"] == 1 and not Path(j.outputs.metrics).exists()
    res = run_stacked(jobs["run"])
    for a, b, ja, jb in zip(ref, res, jobs["ref"], jobs["run"]):
        assert b["resumed_from_epoch"] == 1 and a["resumed_from_epoch"] is None
        for k in SAME:
            assert a[k] == b[k], k
        assert Path(ja.outputs.adapter).read_bytes() == Path(jb.outputs.adapter).read_bytes()
        assert Path(ja.outputs.predictions).read_bytes() == Path(jb.outputs.predictions).read_bytes()


def test_a_separate_checkpoint_is_not_resumed_by_a_stack(data, tmp_path, monkeypatch):
    """The same job separately and stacked computes with other random streams: never cross-resumed."""
    sep = fx.job(data, data["model"], tmp_path, 0, optim={"max_epochs": 2})
    real = train_mod.Trainer._save

    def save(self):
        real(self)
        if self.state["total_epochs"] >= 1:
            raise Killed

    with monkeypatch.context() as mp:
        mp.setattr(train_mod.Trainer, "_save", save)
        with pytest.raises(Killed):
            run_finetune(sep)
    assert run_stacked([sep])[0]["resumed_from_epoch"] is None


def test_an_encoder_whose_batches_are_not_exact_trains_separately(tmp_path, caplog):
    d = fx.data(tmp_path)
    model = fx.save_model(tmp_path / "model", "data2vec-audio")
    jobs = [fx.job(d, model, tmp_path / "out", f, "frozen", optim={"max_epochs": 1}) for f in range(2)]
    with caplog.at_level(logging.WARNING, logger="xlser.peft.stack"):
        res = run_stacked(jobs)
    assert "trained separately, not stacked" in caplog.text and "unbatched" in caplog.text
    assert all("training" not in r for r in res) and all(Path(j.outputs.metrics).exists() for j in jobs)


def test_jobs_that_do_not_share_the_model_are_refused(data, tmp_path):
    a = fx.job(data, data["model"], tmp_path, 0, "lora")
    b = fx.job(data, data["model"], tmp_path, 1, "frozen")
    with pytest.raises(ValueError, match="its strategy differs"):
        run_stacked([a, b])
    with pytest.raises(ValueError, match="share a checkpoint_dir"):
        run_stacked([a, a])


@pytest.mark.parametrize(
    ("kind", "strategy", "stacked"),
    [
        ("hubert-group", "lora+ba+wg", True),
        ("wav2vec2-layer", "lora", True),
        ("wavlm-group", "frozen", True),
        ("wavlm-group", "lora", False),  # WavLM's attention reads the projection weights: no per-row LoRA
    ],
)
def test_other_encoders_stack_or_train_separately(tmp_path, curves, kind, strategy, stacked):
    d = fx.data(tmp_path)
    model = fx.save_model(tmp_path / "model", kind)
    sep = [fx.job(d, model, tmp_path / "sep", f, strategy, optim={"max_epochs": 2}) for f in range(2)]
    stk = [fx.job(d, model, tmp_path / "stk", f, strategy, optim={"max_epochs": 2}) for f in range(2)]
    rs, rk = [run_finetune(j) for j in sep], run_stacked(stk)
    if stacked:
        assert_same_runs(sep, stk, rs, rk, curves)
    else:
        assert all("training" not in r for r in rk)
        for a, b in zip(rs, rk):
            assert (a["ua"], a["best_epoch"]) == (b["ua"], b["best_epoch"])
