"""Guards on published numbers: each test is built so that one plausible bug, which every
other test let through (issue 17), gives a different number here.

- the probe's layer is chosen by validation UA, and its predictions are the test ids'
  (Figure 1 / best_layers.csv, Table III's model panels);
- the weighted gate starts at sigmoid(1) on every kept layer (Table I, LoRA+BA+WG);
- one encoder layer with LoRA, adapter and gate computes the study's equations, for
  post-LN and stable-LN layers (Table I);
- a fine-tune's outputs are those of its best validation epoch (Table I);
- with one held-out speaker per fold, validation and test never share an utterance.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import transformers as T

torch.set_num_threads(1)
EMO = ["angry", "happy", "neutral", "sad"]


# ---------------------------------------------------------------- layer choice (probe_experiment)


def _probe_cfg(**kw):
    from xlser.config import schema_defaults
    from xlser.layerwise.probe import ProbeConfig

    return ProbeConfig.from_section(schema_defaults("probe") | kw)


VAL_LAYER, TEST_LAYER = 1, 3


@pytest.fixture(scope="module")
def crossed_layers():
    return _crossed_layers()


def _crossed_layers(strong: float = 5.0, weak: float = 2.0, lr: float = 1e-2, max_epochs: int = 30):
    """Two folds over disjoint val/test sets. Layer 1 carries the emotion strongly on train
    and validation utterances but not on test ones; layer 3 carries it weakly on all of them:
    validation peaks at layer 1, test at layer 3, so choosing by test UA gives another layer."""
    from xlser.layerwise.probe import probe_experiment

    rng = np.random.default_rng(0)
    n_train, n_block, layers, dim = 160, 40, 5, 16
    n = n_train + 4 * n_block
    y = np.tile(np.arange(4), n // 4)
    rng.shuffle(y)
    X = rng.normal(size=(n, layers, dim)).astype(np.float32)
    ids = np.array([f"u{i:03d}" for i in range(n)])
    block = {
        name: np.arange(n_train + i * n_block, n_train + (i + 1) * n_block)
        for i, name in enumerate(["V0", "T0", "V1", "T1"])
    }
    not_test = np.ones(n, bool)
    not_test[np.r_[block["T0"], block["T1"]]] = False
    X[not_test, VAL_LAYER, :4] += strong * np.eye(4)[y[not_test]]
    X[:, TEST_LAYER, :4] += weak * np.eye(4)[y]
    rows = []
    for f in (0, 1):
        rows += [(u, f, "train") for u in ids[:n_train]]
        rows += [(u, f, "val") for u in ids[block[f"V{f}"]]] + [(u, f, "test") for u in ids[block[f"T{f}"]]]
    splits = pd.DataFrame(rows, columns=["utt_id", "fold", "partition"])
    man = pd.DataFrame({"utt_id": ids, "emotion": [EMO[i] for i in y]})
    info = {"model": "M", "setting": "mono", "train": "A", "test": "A"}
    scores, preds = probe_experiment(
        (ids, X), (ids, X), man, man, splits, splits, EMO, _probe_cfg(lr=lr, max_epochs=max_epochs, patience=10), info
    )
    return {"scores": scores, "preds": preds, "splits": splits}


def test_probe_layer_is_chosen_by_validation_not_test(crossed_layers):
    scores, preds = crossed_layers["scores"], crossed_layers["preds"]
    means = scores.groupby("layer")[["val_ua", "ua"]].mean()
    # the inputs discriminate: validation and test peak at different layers, far apart
    assert means["val_ua"].idxmax() == VAL_LAYER and means["ua"].idxmax() == TEST_LAYER
    assert means.loc[VAL_LAYER, "val_ua"] > 0.9 and means.loc[TEST_LAYER, "ua"] > 0.6
    assert means.loc[VAL_LAYER, "ua"] < 0.45 and means.loc[TEST_LAYER, "val_ua"] < 0.85
    assert set(preds["layer"]) == {VAL_LAYER}
    # the predictions are those of the chosen layer: their UA per fold is the score table's
    from xlser.metrics import ua

    for fold, g in preds.groupby("fold"):
        row = scores[(scores["fold"] == fold) & (scores["layer"] == VAL_LAYER)].iloc[0]
        assert ua(g["true"].tolist(), g["pred"].tolist(), EMO) == pytest.approx(row["ua"], abs=1e-12)


def test_probe_predictions_are_exactly_each_folds_test_ids(crossed_layers):
    preds, splits = crossed_layers["preds"], crossed_layers["splits"]
    assert sorted(preds["fold"].unique()) == [0, 1]
    for fold, g in preds.groupby("fold"):
        want = splits[(splits["fold"] == fold) & (splits["partition"] == "test")]["utt_id"]
        assert sorted(g["utt_id"]) == sorted(want) and not g["utt_id"].duplicated().any()


# ---------------------------------------------------------------- PEFT modules


D, FF = 32, 64
SMALL = {
    "hidden_size": D,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "intermediate_size": FF,
    "conv_dim": (32, 32),
    "conv_kernel": (10, 3),
    "conv_stride": (5, 2),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "hidden_act": "gelu",
}
STUDY_R, STUDY_ALPHA = 8, 16  # LoRA r=8, alpha=16: the study's, and build_model's defaults


def _wav2vec2(stable: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = T.Wav2Vec2Config(**SMALL, do_stable_layer_norm=stable, feat_extract_norm="layer" if stable else "group")
    return T.Wav2Vec2Model(cfg).eval()


def _peft_model(stable: bool, layers: int):
    from xlser.peft.modules import build_model

    return build_model(_wav2vec2(stable), layers, "lora+ba+wg", 4).eval()


@pytest.mark.parametrize("stable", [False, True], ids=["post-ln", "stable-ln"])
def test_gate_at_initialisation_is_sigmoid_one_on_every_kept_layer(stable):
    """The study initialises the gating vector to ones: each kept layer sees sigmoid(1) * h."""
    model = _peft_model(stable, 2)
    layers = model.encoder.encoder.layers
    assert len(layers) == 2
    seen: dict[int, list[torch.Tensor]] = {0: [], 1: []}

    def capture(i):
        def hook(module, args, kwargs):
            seen[i].append((args[0] if args else kwargs["hidden_states"]).detach().clone())

        return hook

    for i, layer in enumerate(layers):
        # the raw input (before every other pre-hook) and the input the layer computes with (after them)
        layer.register_forward_pre_hook(capture(i), with_kwargs=True, prepend=True)
        layer.register_forward_pre_hook(capture(i), with_kwargs=True)
    torch.manual_seed(2)
    with torch.no_grad():
        model.encoder(torch.randn(1, 4000))
    for i in (0, 1):
        raw, gated = seen[i]
        torch.testing.assert_close(gated, torch.sigmoid(torch.tensor(1.0)) * raw, rtol=1e-6, atol=1e-7)


def _ln(m: torch.nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), m.weight, m.bias, m.eps)


def _lora_linear(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """W x + b + (alpha / r) B A x: LoRA on a frozen Linear (dropout off in eval)."""
    base = m.base_layer
    delta = (STUDY_ALPHA / STUDY_R) * (m.lora_B["default"].weight @ m.lora_A["default"].weight)
    return F.linear(x, base.weight + delta, base.bias)


def _attention(a: torch.nn.Module, h: torch.Tensor, heads: int) -> torch.Tensor:
    b, t, d = h.shape
    hd = d // heads

    def split(z):
        return z.view(b, t, heads, hd).transpose(1, 2)

    q = split(_lora_linear(a.q_proj, h)) * hd**-0.5
    k, v = split(_lora_linear(a.k_proj, h)), split(_lora_linear(a.v_proj, h))
    w = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
    return _lora_linear(a.out_proj, (w @ v).transpose(1, 2).reshape(b, t, d))


def _ffn(f: torch.nn.Module, h: torch.Tensor) -> torch.Tensor:
    return _lora_linear(f.output_dense, F.gelu(_lora_linear(f.intermediate_dense, h)))


def _reference_layer(layer: torch.nn.Module, x: torch.Tensor, stable: bool, heads: int) -> torch.Tensor:
    """The study's equations, written out: gate h <- sigmoid(g) h at the input (the residual
    carries the gated h); bottleneck adapter Up(ReLU(Down(f))) added to the feed-forward
    output f inside the residual, i.e. before the final LayerNorm of a post-LN layer."""
    ad = layer.bottleneck_adapter
    h = torch.sigmoid(layer.input_gate.g) * x

    def with_adapter(f):
        return f + F.linear(torch.relu(F.linear(f, ad.down.weight, ad.down.bias)), ad.up.weight, ad.up.bias)

    if stable:
        h = h + _attention(layer.attention, _ln(layer.layer_norm, h), heads)
        return h + with_adapter(_ffn(layer.feed_forward, _ln(layer.final_layer_norm, h)))
    h = _ln(layer.layer_norm, h + _attention(layer.attention, h, heads))
    return _ln(layer.final_layer_norm, h + with_adapter(_ffn(layer.feed_forward, h)))


@pytest.mark.parametrize("stable", [False, True], ids=["post-ln", "stable-ln"])
def test_one_layer_with_lora_adapter_and_gate_computes_the_studys_equations(stable):
    model = _peft_model(stable, 1)
    layer = model.encoder.encoder.layers[0]
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():  # every module away from its identity initialisation
        for name, p in layer.named_parameters():
            if "lora_B" in name or "bottleneck_adapter.up" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            if "input_gate" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
        x = torch.randn(2, 7, D, generator=gen)
        out = layer(x)
        out = out[0] if isinstance(out, tuple) else out
        ref = _reference_layer(layer, x, stable, SMALL["num_attention_heads"])
        plain = copy.deepcopy(_wav2vec2(stable).encoder.layers[0])(x)
        plain = plain[0] if isinstance(plain, tuple) else plain
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert (out - plain).abs().max() > 0.1  # the PEFT modules do act


# ---------------------------------------------------------------- fine-tuning keeps the best epoch


def test_finetune_outputs_are_those_of_a_run_stopped_at_its_best_epoch(tmp_path):
    """Table I reports the weights of the best validation epoch: the job's outputs must equal
    those of the same job stopped at that epoch (same seed, so the same first epochs)."""
    import sys
    from pathlib import Path

    # the fine-tuning tests' tiny model and corpora, importable when this file runs alone too
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peft"))
    from test_peft_train import corpus, make_job, tiny_model

    from xlser.peft.train import run_finetune

    a, b = corpus(tmp_path, "CA", "CN", seed=1), corpus(tmp_path, "CB", "DE", seed=2)
    best_layers = tmp_path / "best_layers.csv"
    pd.DataFrame([{"model": "M", "setting": "cross", "train": "CA", "test": "CB", "layer": 2}]).to_csv(
        best_layers, index=False
    )
    job = {
        "model": str(tiny_model(tmp_path / "model")),
        "manifests": [a[0], b[0]],
        "splits": [a[1], b[1]],
        "best": str(best_layers),
    }

    optim = {"max_epochs": 6, "patience": 100, "lr": 0.05}
    full = run_finetune(make_job(job, tmp_path / "full", strategy="frozen", optim=optim))
    best = full["best_epoch"]
    assert full["epochs"] == 6 and 1 <= best < 6  # the best epoch is not the last: the inputs discriminate
    stopped = run_finetune(make_job(job, tmp_path / "stopped", strategy="frozen", optim=optim | {"max_epochs": best}))
    assert stopped["epochs"] == best and stopped["val_ua"] == full["val_ua"]
    for k in ("ua", "wa", "macro_f1"):
        assert full[k] == stopped[k], k
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "full" / "predictions.csv"), pd.read_csv(tmp_path / "stopped" / "predictions.csv")
    )


# ---------------------------------------------------------------- splits


def test_one_held_out_speaker_per_fold_keeps_validation_and_test_apart():
    """Five speakers, five folds: each fold holds out one speaker, whose utterances feed both
    validation and test; no utterance may be in both."""
    from xlser.data.splits import make_splits

    man = pd.DataFrame(
        [
            {"utt_id": f"s{s}_{e}_{i}", "speaker": f"s{s}", "emotion": e}
            for s, e, i in itertools.product(range(5), EMO, range(10))
        ]
    )
    df = make_splits(man, EMO, 8, 16, 16, folds=5, seed=1, split_by="speaker").merge(man, on="utt_id")
    held = []
    for f, g in df.groupby("fold"):
        part = {p: g[g["partition"] == p] for p in ("train", "val", "test")}
        out = set(part["val"]["speaker"]) | set(part["test"]["speaker"])
        assert len(out) == 1 and not out & set(part["train"]["speaker"])
        assert not set(part["val"]["utt_id"]) & set(part["test"]["utt_id"])
        for p, n in (("train", 8), ("val", 4), ("test", 4)):
            assert part[p]["emotion"].value_counts().to_dict() == dict.fromkeys(EMO, n), (f, p)
        held += list(out)
    assert sorted(held) == [f"s{s}" for s in range(5)]


# ---------------------------------------------------------------- metrics (Tables I-III)


TRUE = ["angry"] * 4 + ["happy"] * 2 + ["neutral", "sad"]
PRED = ["angry", "angry", "angry", "happy", "happy", "neutral", "neutral", "neutral"]


def test_ua_wa_and_macro_f1_on_unbalanced_data():
    """By hand: recalls 3/4, 1/2, 1, 0 (UA 0.5625); accuracy 5/8; F1 6/7, 1/2, 1/2, 0."""
    from xlser.metrics import macro_f1, scores, ua, wa

    assert ua(TRUE, PRED, EMO) == pytest.approx((0.75 + 0.5 + 1 + 0) / 4)
    assert wa(TRUE, PRED) == pytest.approx(5 / 8)
    assert macro_f1(TRUE, PRED, EMO) == pytest.approx((6 / 7 + 0.5 + 0.5 + 0) / 4)
    # a class absent from the truth does not count (Table II's TJ answers may lack one)
    assert ua(TRUE, PRED, EMO + ["fear"]) == pytest.approx(0.5625)
    assert scores(TRUE, PRED, EMO) == {
        "ua": pytest.approx(0.5625),
        "wa": pytest.approx(0.625),
        "macro_f1": pytest.approx((6 / 7 + 1) / 4),
    }


def test_confusion_rows_are_true_classes_and_sum_to_one():
    from xlser.metrics import confusion

    cm = confusion(TRUE, PRED, EMO)
    expect = [[0.75, 0.25, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 1, 0], [0, 0, 1, 0]]
    np.testing.assert_allclose(cm.loc[EMO, EMO].to_numpy(), expect)
    assert cm.index.name == "true" and cm.columns.name == "pred"
    counts = confusion(TRUE, PRED, EMO, normalize=False)
    assert counts.to_numpy().sum() == len(TRUE) and counts.at["angry", "happy"] == 1
