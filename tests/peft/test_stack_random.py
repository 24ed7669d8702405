"""Stacked fine-tuning with random draws (`encoder_mode: train`: dropout, attention dropout,
LayerDrop, SpecAugment time masks; LoRA dropout): each model draws from its own seeded
streams, so a stacked run repeats its own numbers exactly (also after a kill and resume), a
model trains the same in any stack (alone included), nothing is drawn from the global
generators, and each random part has its separate run's distribution (the same draw
function, shapes and probabilities per model)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import stack_fixtures as fx
import torch

from tiny_encoders import tiny_model
from xlser.peft import rows as rows_mod
from xlser.peft import stack as stack_mod
from xlser.peft.rows import MemberRng, Rows, Span, _row_spec_augment, row_attention
from xlser.peft.stack import run_stacked
from xlser.peft.train import run_finetune

torch.set_num_threads(1)


class Killed(Exception):
    pass


def test_a_random_stack_repeats_itself_resumes_exactly_and_a_model_trains_the_same_in_any_stack(
    tmp_path, monkeypatch, caplog
):
    data = fx.data(tmp_path)
    model = fx.save_model(tmp_path / "model", "wav2vec2-layer", **fx.RANDOM)  # per-frame CNN: exact bits

    def jobs(where, folds=range(3)):
        return [
            fx.job(
                data, model, tmp_path / where, f, optim={"batch_size": 2 + f}, lora_dropout=0.1, encoder_mode="train"
            )
            for f in folds
        ]

    with caplog.at_level(logging.WARNING, logger="xlser.peft.stack"):
        ref, again, alone = run_stacked(jobs("ref")), run_stacked(jobs("again")), run_stacked(jobs("alone", [1]))
    assert "global random generators" not in caplog.text  # every draw came from the models' own streams
    calls = {"n": 0}
    real = stack_mod.train_step

    def dies(*a):
        calls["n"] += 1
        if calls["n"] == 12:  # round 2 (8 steps a round: fold 0 draws 8 batches of 2)
            raise Killed
        return real(*a)

    with monkeypatch.context() as mp:
        mp.setattr(stack_mod, "train_step", dies)
        with pytest.raises(Killed):
            run_stacked(jobs("resumed"))
    resumed = run_stacked(jobs("resumed"))
    assert [r["resumed_from_epoch"] for r in resumed] == [1, 1, 1]
    for where, res in (("again", again), ("resumed", resumed)):
        for a, b, ja, jb in zip(ref, res, jobs("ref"), jobs(where)):
            assert (a["ua"], a["val_ua"], a["best_epoch"]) == (b["ua"], b["val_ua"], b["best_epoch"]), where
            assert Path(ja.outputs.adapter).read_bytes() == Path(jb.outputs.adapter).read_bytes(), where
            assert Path(ja.outputs.predictions).read_bytes() == Path(jb.outputs.predictions).read_bytes(), where
    wa, wb = fx.weights(jobs("ref")[1]), fx.weights(jobs("alone", [1])[0])
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=2e-5, msg=k)
    assert (alone[0]["best_epoch"], alone[0]["val_ua"]) == (ref[1]["best_epoch"], ref[1]["val_ua"])
    # the draws are on: the same stack in eval mode without LoRA dropout ends elsewhere
    quiet = fx.job(data, model, tmp_path / "quiet", 1, optim={"batch_size": 3})
    run_stacked([quiet])
    assert not np.allclose(fx.probs(jobs("ref")[1].outputs.predictions), fx.probs(quiet.outputs.predictions))


def test_a_model_that_skips_a_layer_gets_no_update_there_as_in_a_separate_run(tmp_path, monkeypatch):
    """LayerDrop decided per model: with the decisions forced (model 0 skips every layer, model 1
    none), the stack is deterministic and each model must end as a separate run with LayerDrop
    1 and 0. Model 0's weights on the skipped layers get no gradient (None: AdamW's weight decay
    and moments leave them alone, as in a separate run), not a zero one, although model 1's rows
    go through those layers in the same step."""
    data = fx.data(tmp_path)
    quiet = {"mask_time_prob": 0.0, "activation_dropout": 0.0}  # the tiny encoders draw nothing else
    models = {p: fx.save_model(tmp_path / f"model{p}", layerdrop=p, **quiet) for p in (0.0, 0.5, 1.0)}

    def job(where, fold, p):
        return fx.job(data, models[p], tmp_path / where, fold, optim={"max_epochs": 2}, encoder_mode="train")

    sep = [job("sep", 0, 1.0), job("sep", 1, 0.0)]
    stk = [job("stk", 0, 0.5), job("stk", 1, 0.5)]
    rs = [run_finetune(j) for j in sep]
    monkeypatch.setattr(Rows, "layer_skips", lambda self, p: [s.slot == 0 for s in self.spans])
    rk = run_stacked(stk)
    for a, b, ja, jb in zip(rs, rk, sep, stk):
        assert (a["best_epoch"], a["val_ua"]) == (b["best_epoch"], b["val_ua"])
        wa, wb = fx.weights(ja), fx.weights(jb)
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=2e-5, msg=k)


def _spans(frames, rng_seeds, rows_per=2):
    spans, start = [], 0
    for slot, (f, s) in enumerate(zip(frames, rng_seeds)):
        spans.append(Span(slot, start, start + rows_per, f, MemberRng(s, torch.device("cpu"))))
        start += rows_per
    return spans


def test_dropout_masks_per_model_do_not_depend_on_the_stack():
    p, frames = 0.3, [50, 80, 30]
    rows = Rows()
    spans = _spans(frames, [1, 2, 3])
    rows.set(torch.repeat_interleave(torch.arange(3), 2), spans, {"w": torch.zeros(3, 1)}, training=True)
    x = torch.ones(6, 80, 64)
    out = rows.dropout(x, p)
    for s in spans:
        valid = out[s.start : s.end, : s.frames]
        assert (torch.isclose(valid, torch.tensor(0.0)) | torch.isclose(valid, torch.tensor(1 / (1 - p)))).all()
        assert abs(float((valid == 0).float().mean()) - p) < 0.03  # the rate of F.dropout(p)
        alone = Rows()
        one = Span(0, 0, 2, s.frames, MemberRng([1, 2, 3][s.slot], torch.device("cpu")))
        alone.set(torch.zeros(2, dtype=torch.long), [one], {"w": torch.zeros(1, 1)}, training=True)
        assert torch.equal(alone.dropout(torch.ones(2, s.frames, 64), p), valid)  # its own draw, alone or stacked


def test_layerdrop_decisions_have_the_separate_runs_rate_per_model():
    rows = Rows()
    spans = _spans([40, 40], [5, 6], rows_per=1)
    rows.set(torch.arange(2), spans, {"w": torch.zeros(2, 1)}, training=True)
    skips = np.array([rows.layer_skips(0.2) for _ in range(4000)])
    assert np.abs(skips.mean(0) - 0.2).max() < 0.03  # transformers: skip when torch.rand([]) < layerdrop
    assert np.mean(skips[:, 0] != skips[:, 1]) > 0.02  # decided per model, not once per stack


def _attention_rows(seeds=(5, 6), frames=(40, 30)):
    rows = Rows()
    spans = [Span(i, i, i + 1, f, MemberRng(s, torch.device("cpu"))) for i, (f, s) in enumerate(zip(frames, seeds))]
    rows.set(torch.arange(len(spans)), spans, {"w": torch.zeros(len(spans), 1)}, training=True)
    module = torch.nn.Module().train()
    module._xlser_rows = [rows]
    return module, spans


def test_attention_dropout_per_model_is_torchs_kernel_on_its_own_stream():
    """On a CPU: each model's rows through torch's attention kernel with dropout (the separate
    run's kernel), on its own frames, drawing from its own stream."""
    module, spans = _attention_rows()
    q = torch.randn(2, 2, 40, 8)
    out, _ = row_attention(module, q, q, q, None, dropout=0.25)
    quiet, _ = row_attention(module.eval(), q, q, q, None, dropout=0.25)
    for s in spans:
        rng = MemberRng([5, 6][s.slot], torch.device("cpu"))  # the same stream, fresh
        x = q[s.start : s.end, :, : s.frames]
        with rng.torch_global():
            alone = torch.nn.functional.scaled_dot_product_attention(x, x, x, dropout_p=0.25)
        torch.testing.assert_close(out[s.start : s.end, : s.frames], alone.transpose(1, 2))
        assert not torch.allclose(out[s.start : s.end, : s.frames], quiet[s.start : s.end, : s.frames])


def test_attention_dropout_drawn_per_row_over_the_batch_has_the_rate(monkeypatch):
    """On a GPU: eager attention over the batch, each model's mask from its own generator."""
    monkeypatch.setattr(rows_mod, "KERNEL_PER_MODEL", set())
    module, _ = _attention_rows(frames=(40, 40))
    q = torch.randn(2, 2, 40, 8)
    _, w = row_attention(module, q, q, q, None, dropout=0.25)
    plain = torch.softmax(torch.matmul(q, q.transpose(2, 3)) * 8**-0.5, -1)
    assert abs(float((w == 0).float().mean()) - 0.25) < 0.02
    kept = w != 0
    torch.testing.assert_close(w[kept], (plain / 0.75)[kept])


def test_time_masks_per_model_follow_transformers_spec_augment():
    """The masked share of each model's valid frames is what the model's own SpecAugment
    (global numpy, its batch alone) masks, on average."""
    model = tiny_model("wav2vec2-group")
    model.config.mask_time_prob, model.config.mask_time_length = 0.3, 3
    model.train()
    frames = [60, 90]
    attn = torch.zeros(4, 90, dtype=torch.bool)
    attn[0:2, :60] = True
    attn[2:4, :90] = True
    attn[1, 45:] = False  # a shorter utterance in the first model's batch
    rows = Rows()
    spans = _spans(frames, [7, 8])
    rows.set(torch.repeat_interleave(torch.arange(2), 2), spans, {"w": torch.zeros(2, 1)}, training=True)
    masked = _row_spec_augment(model, rows)
    model.masked_spec_embed.data.fill_(1.0)
    ours, theirs = [], []
    np.random.seed(0)
    for _ in range(300):
        with torch.no_grad():
            h = masked(torch.zeros(4, 90, 32), attention_mask=attn)[..., 0]
        ours.append([float(h[r][attn[r]].mean()) for r in range(4)])
        alone = []
        for s in spans:  # each model's batch alone through transformers' own method
            with torch.no_grad():
                h = model._mask_hidden_states(
                    torch.zeros(2, s.frames, 32), attention_mask=attn[s.start : s.end, : s.frames]
                )
            alone += [float(h[r - s.start, : int(attn[r].sum())].mean()) for r in range(s.start, s.end)]
        theirs.append(alone)
    assert np.abs(np.mean(ours, 0) - np.mean(theirs, 0)).max() < 0.03
    assert np.mean(ours) > 0.1
