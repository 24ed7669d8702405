"""Batched layer probes: same result as one layer alone; a planted signal finds its layer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from xlser.config import schema_defaults
from xlser.layerwise.heads import make_head
from xlser.layerwise.probe import (
    BatchedHead,
    Patience,
    ProbeConfig,
    initial_head,
    probe_experiment,
    train_probe_folds,
    train_probes,
    training_orders,
)


def pcfg(**kw) -> ProbeConfig:
    """The schema's `probe:` defaults with `kw` on top."""
    return ProbeConfig.from_section(schema_defaults("probe") | kw)


EMO = ["angry", "happy", "neutral", "sad"]


def planted(n=320, layers=6, dim=16, k=3, seed=0, strength=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    X = rng.normal(size=(n, layers, dim)).astype(np.float32)
    X[:, k, :4] += strength * np.eye(4)[y]  # only layer k separates the classes
    return X, y


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_batched_head_initialises_like_make_head(head):
    bh = BatchedHead(head, 16, 4, seeds=[5, 6])
    torch.manual_seed(6)
    ref = make_head(head, 16, 4)
    x = torch.randn(3, 16)
    out = bh(torch.stack([x, x], dim=1))[:, 1]
    torch.testing.assert_close(out, ref(x))


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_batched_equals_one_layer_alone(head):
    X, y = planted()
    cfg = pcfg(head=head, lr=1e-3, max_epochs=40, patience=5, seed=3)
    allr = train_probes(X[:240], y[:240], X[240:], y[240:], 4, cfg)
    for k in (0, 3):
        one = train_probes(X[:240, k : k + 1], y[:240], X[240:, k : k + 1], y[240:], 4, cfg, layer_ids=[k])
        assert allr.val_ua[k] == pytest.approx(one.val_ua[0], abs=1e-6)
        assert allr.epochs[k] == one.epochs[0] and allr.best_epoch[k] == one.best_epoch[0]
        np.testing.assert_allclose(
            allr.predict_proba(X[240:])[:, k], one.predict_proba(X[240:, k : k + 1])[:, 0], atol=1e-5
        )


def test_early_stopping_is_per_layer():
    X, y = planted()
    res = train_probes(X[:240], y[:240], X[240:], y[240:], 4, pcfg(lr=1e-2, max_epochs=200, patience=3))
    assert len(set(res.epochs.tolist())) > 1  # layers stop at different epochs
    assert (res.epochs < 200).all() and (res.best_epoch <= res.epochs).all()


def experiment_inputs(X, y, folds=2):
    ids = np.array([f"u{i}" for i in range(len(y))])
    man = pd.DataFrame({"utt_id": ids, "emotion": [EMO[i] for i in y]})
    rows = []
    for f in range(folds):
        part = np.array(["train"] * len(y), dtype=object)
        rng = np.random.default_rng(f)
        perm = rng.permutation(len(y))
        part[perm[:40]], part[perm[40:80]] = "val", "test"
        rows.append(pd.DataFrame({"utt_id": ids, "fold": f, "partition": part}))
    splits = pd.concat(rows, ignore_index=True)
    return (ids, X), man, splits


def test_planted_signal_gives_best_layer_k():
    X, y = planted(k=4, strength=3.0)
    feats, man, splits = experiment_inputs(X, y)
    info = {"model": "M", "setting": "mono", "train": "A", "test": "A"}
    scores, preds = probe_experiment(
        feats, feats, man, man, splits, splits, EMO, pcfg(lr=1e-3, max_epochs=60, patience=10), info
    )
    means = scores.groupby("layer")[["ua", "val_ua"]].mean()
    assert means["val_ua"].idxmax() == 4 and means["ua"].idxmax() == 4
    assert means.loc[4, "ua"] > 0.8 and means.drop(4)["ua"].max() < 0.45
    assert set(preds["layer"]) == {4} and len(preds) == 2 * 40
    assert {"p_angry", "p_sad"} <= set(preds.columns)
    assert np.allclose(preds[[f"p_{e}" for e in EMO]].sum(axis=1), 1, atol=1e-4)
    assert scores.shape[0] == 2 * 6 and set(scores.columns) >= {"ua", "wa", "macro_f1", "epochs", "val_ua"}


def reference_single_layer(Xtr, ytr, Xva, yva, Xte, cfg, layer):
    """An independent plain-PyTorch trainer of ONE layer's `make_head` head, as the study's
    code trains it: seeded init (per layer, or the one shared head), AdamW, seeded batch order
    (drawn every epoch, or once), patience on validation loss (reset on `<` or `<=`),
    checkpoint with the best validation UA kept."""
    from xlser.metrics import ua

    xtr = torch.as_tensor(Xtr[:, layer], dtype=torch.float32)
    mean, std = xtr.mean(0), xtr.std(0).clamp(min=1e-5)
    norm = lambda a: (torch.as_tensor(a[:, layer], dtype=torch.float32) - mean) / std  # noqa: E731
    xtr, xva, xte = norm(Xtr), norm(Xva), norm(Xte)
    ytr_t, yva_t = torch.as_tensor(ytr), torch.as_tensor(yva)
    torch.manual_seed(cfg.optim.seed + (layer if cfg.init == "per_layer" else 0))
    head = make_head(cfg.head, xtr.shape[1], 4)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.optim.lr, eps=cfg.optim.eps, weight_decay=cfg.optim.weight_decay)
    gen = torch.Generator().manual_seed(cfg.optim.seed)
    best_ua, best_loss, bad, best_state = -1.0, float("inf"), 0, None
    perm = torch.randperm(len(xtr), generator=gen)
    for epoch in range(cfg.optim.max_epochs):
        if epoch > 0 and cfg.shuffle == "every_epoch":
            perm = torch.randperm(len(xtr), generator=gen)
        for s in range(0, len(xtr), cfg.optim.batch_size):
            idx = perm[s : s + cfg.optim.batch_size]
            loss = torch.nn.functional.cross_entropy(head(xtr[idx]), ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            logits = head(xva)
            vloss = float(torch.nn.functional.cross_entropy(logits, yva_t))
            vua = ua(yva, logits.argmax(1).numpy(), range(4))
        if vua > best_ua:
            best_ua, best_state = vua, {k: v.clone() for k, v in head.state_dict().items()}
        if vloss < best_loss or (cfg.patience_reset == "tie" and vloss == best_loss):
            best_loss, bad = vloss, 0
        else:
            bad += 1
            if bad >= cfg.optim.patience:
                break
    head.load_state_dict(best_state)
    with torch.no_grad():
        return best_ua, head(xte).argmax(1).numpy()


STUDY_OPTIONS = {"init": "shared", "shuffle": "once", "patience_reset": "tie"}


@pytest.mark.parametrize(
    "head,options", [("linear", {}), ("mlp", {}), ("mlp", STUDY_OPTIONS), ("linear", STUDY_OPTIONS)]
)
def test_batched_probe_matches_independent_make_head_training(head, options):
    """Acceptance: every layer of the batched probe reaches the same validation UA and the same
    test predictions (hence test UA) as its own `make_head` head trained alone, same seed;
    with today's options and with the study code's (shared init, one order, `<=` reset)."""
    from xlser.metrics import ua

    X, y = planted(k=2, layers=4)
    cfg = pcfg(head=head, lr=3e-3, max_epochs=30, patience=4, seed=11, **options)
    res = train_probes(X[:200], y[:200], X[200:260], y[200:260], 4, cfg)
    pred = res.predict_proba(X[260:]).argmax(-1)
    for layer in range(4):
        val_ua, ref_pred = reference_single_layer(X[:200], y[:200], X[200:260], y[200:260], X[260:], cfg, layer)
        assert res.val_ua[layer] == pytest.approx(val_ua, abs=1e-6)
        assert ua(y[260:], pred[:, layer], range(4)) == pytest.approx(ua(y[260:], ref_pred, range(4)), abs=1e-9)
        assert (pred[:, layer] == ref_pred).mean() >= 0.98  # float summation order may flip a tie
    assert res.val_ua[2] > 0.6 > max(res.val_ua[[0, 1, 3]])  # the planted layer is the one that learns


def _two_corpora(val_layer_a: int, val_layer_b: int):
    """Corpus A (train) and B (test): train rows separate classes in layers 1 and 3; A's
    validation rows only in `val_layer_a`, B's validation rows only in `val_layer_b`."""
    rng = np.random.default_rng(5)
    n, layers, dim = 240, 5, 8

    def block(prefix, signal_layers):
        y = np.arange(n) % 4
        X = rng.normal(size=(n, layers, dim)).astype(np.float32)
        for k in signal_layers:
            X[:, k, :4] += 3.0 * np.eye(4)[y]
        ids = np.array([f"{prefix}{i}" for i in range(n)])
        return ids, X, y

    def corpus(prefix, val_layer):
        ids, X, y = block(prefix, [1, 3])
        part = np.array(["train"] * n, dtype=object)
        part[160:200], part[200:] = "val", "test"
        Xv = rng.normal(size=(40, layers, dim)).astype(np.float32)
        Xv[:, val_layer, :4] += 3.0 * np.eye(4)[y[160:200]]
        X[160:200] = Xv
        man = pd.DataFrame({"utt_id": ids, "emotion": [EMO[i] for i in y]})
        splits = pd.DataFrame({"utt_id": ids, "fold": 0, "partition": part})
        return (ids, X), man, splits

    return corpus("a", val_layer_a), corpus("b", val_layer_b)


def test_cross_validation_corpus_chooses_the_layer_through_its_validation_data():
    """`val_on`: source validation picks A's peak, target validation B's; the test rows are B's either way."""
    (fa, ma, sa), (fb, mb, sb) = _two_corpora(val_layer_a=1, val_layer_b=3)
    info = {"model": "M", "setting": "cross", "train": "A", "test": "B"}
    cfg = pcfg(lr=1e-2, max_epochs=30, patience=5)
    _, p_src = probe_experiment(fa, fb, ma, mb, sa, sb, EMO, cfg, info, val_on="source")
    _, p_tgt = probe_experiment(fa, fb, ma, mb, sa, sb, EMO, cfg, info, val_on="target")
    assert p_src["layer"].unique().tolist() == [1] and p_tgt["layer"].unique().tolist() == [3]
    test_ids = sorted(sb[sb["partition"] == "test"]["utt_id"])
    assert sorted(p_src["utt_id"]) == sorted(p_tgt["utt_id"]) == test_ids


def test_target_validation_differs_only_through_the_validation_rows():
    """With B's validation rows equal to A's, target and source validation give the same numbers."""
    (fa, ma, sa), (fb, mb, sb) = _two_corpora(val_layer_a=1, val_layer_b=1)
    ids_b, X_b = fb
    X_b = X_b.copy()
    X_b[160:200] = fa[1][160:200]
    info = {"model": "M", "setting": "cross", "train": "A", "test": "B"}
    cfg = pcfg(lr=1e-2, max_epochs=30, patience=5)
    s_src, p_src = probe_experiment(fa, (ids_b, X_b), ma, mb, sa, sb, EMO, cfg, info, val_on="source")
    s_tgt, p_tgt = probe_experiment(fa, (ids_b, X_b), ma, mb, sa, sb, EMO, cfg, info, val_on="target")
    pd.testing.assert_frame_equal(s_src, s_tgt)
    pd.testing.assert_frame_equal(p_src, p_tgt)


# ---------------------------------------------------------------- the study code's options (issue 21)


def test_patience_reset_on_ties_pins_the_stop_epoch():
    """Hand-computed, patience 3: `improve` counts the tied epochs 3 and 5 as bad (stop at 5);
    `tie` resets on them (the study's `<=`) and stops after epochs 6-8 (stop at 8)."""
    losses = [1.0, 0.8, 0.8, 0.9, 0.8, 0.85, 0.9, 0.95, 0.99]

    def stop_epoch(reset):
        p = Patience(1, 3, reset)
        for epoch, v in enumerate(losses, start=1):
            if p.update(torch.tensor([v]))[0]:
                return epoch
        return None

    assert stop_epoch("improve") == 5
    assert stop_epoch("tie") == 8


def test_patience_keeps_heads_apart_when_some_are_dropped():
    p = Patience(3, 2, "improve")
    assert not p.update(torch.tensor([1.0, 1.0, 1.0])).any()
    assert p.update(torch.tensor([2.0, 0.5, 2.0])).tolist() == [False, False, False]
    assert p.update(torch.tensor([2.0, 0.6, 0.1])).tolist() == [True, False, False]
    p.keep(torch.tensor([1, 2]))
    assert p.update(torch.tensor([0.7, 0.2])).tolist() == [True, False]  # old head 1: 2 bad epochs
    assert p.update(torch.tensor([0.1, 0.3])).tolist() == [False, True]  # old head 2: 2 bad epochs


@pytest.mark.parametrize("reset,expected", [("improve", 1 + 3), ("tie", 12)])
def test_a_constant_validation_loss_stops_only_without_tie_reset(reset, expected):
    """lr 0: the heads never change, every epoch ties the first; `improve` stops after
    patience epochs, `tie` runs to max_epochs."""
    X, y = planted(n=120, layers=2, k=1)
    res = train_probes(X[:80], y[:80], X[80:], y[80:], 4, pcfg(lr=0.0, max_epochs=12, patience=3, patience_reset=reset))
    assert res.epochs.tolist() == [expected, expected]


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_shared_init_starts_every_layer_from_one_head(head):
    cfg = pcfg(head=head, seed=7, init="shared")
    shared = initial_head(cfg, 16, 4, [0, 1, 2])
    torch.manual_seed(7)
    ref = [m for m in make_head(head, 16, 4).modules() if isinstance(m, torch.nn.Linear)]
    per_layer = initial_head(pcfg(head=head, seed=7), 16, 4, [0, 1, 2])
    for j, lin in enumerate(ref):
        for layer in range(3):
            assert torch.equal(shared.weights[j][layer], lin.weight) and torch.equal(shared.biases[j][layer], lin.bias)
        assert torch.equal(per_layer.weights[j][0], lin.weight)  # seed + 0
        assert not torch.equal(per_layer.weights[j][1], lin.weight)


def test_shared_init_on_equal_layers_gives_equal_probes():
    """Every layer holding the same features: with one shared start they train identically;
    with per-layer seeds they do not."""
    X, y = planted(layers=1, k=0)
    X = np.repeat(X, 3, axis=1)
    outs = {}
    for init in ("shared", "per_layer"):
        res = train_probes(
            X[:240], y[:240], X[240:], y[240:], 4, pcfg(head="mlp", lr=3e-3, max_epochs=8, patience=3, init=init)
        )
        outs[init] = res.predict_proba(X[240:]), res.epochs.tolist(), res.best_epoch.tolist()
    p, q = outs["shared"][0], outs["per_layer"][0]
    for layer in (1, 2):  # equal up to float summation order in the batched kernels
        np.testing.assert_allclose(p[:, layer], p[:, 0], atol=1e-6)
        assert (outs["shared"][1][layer], outs["shared"][2][layer]) == (outs["shared"][1][0], outs["shared"][2][0])
        assert np.abs(q[:, layer] - q[:, 0]).max() > 1e-3


def test_training_order_once_is_the_same_every_epoch():
    once = training_orders(50, 3, "once")
    every = training_orders(50, 3, "every_epoch")
    o = [next(once) for _ in range(4)]
    e = [next(every) for _ in range(4)]
    assert all(torch.equal(o[0], oi) for oi in o[1:])
    assert torch.equal(o[0], e[0])  # the first draw is the same generator's
    assert not any(torch.equal(e[0], ei) for ei in e[1:])
    assert sorted(o[0].tolist()) == list(range(50))
    with pytest.raises(ValueError, match="shuffle 'sometimes'"):
        next(training_orders(5, 0, "sometimes"))


def test_unknown_probe_option_names_the_key():
    with pytest.raises(ValueError, match="probe.init: 'global'"):
        pcfg(init="global")


def test_folds_trained_together_equal_folds_trained_apart():
    """`train_probe_folds` stacks folds of equal size; each fold's result is the one it gets alone."""
    X, y = planted(n=400, layers=3, k=1)
    folds = [
        (X[:200], y[:200], X[200:260], y[200:260]),
        (X[100:300], y[100:300], X[300:360], y[300:360]),
        (X[:150], y[:150], X[200:260], y[200:260]),
    ]  # the third has another size: its own stack
    cfg = pcfg(head="mlp", lr=3e-3, max_epochs=15, patience=3)
    together = train_probe_folds(folds, 4, cfg)
    for f, fold in enumerate(folds):
        alone = train_probes(*fold, 4, cfg)
        np.testing.assert_array_equal(together[f].epochs, alone.epochs)
        np.testing.assert_array_equal(together[f].best_epoch, alone.best_epoch)
        np.testing.assert_allclose(together[f].val_ua, alone.val_ua, atol=1e-6)
        np.testing.assert_allclose(together[f].predict_proba(X[360:]), alone.predict_proba(X[360:]), atol=1e-5)


def test_a_non_finite_validation_loss_stops_the_probes_naming_fold_and_layer():
    """One NaN in one layer's validation features would leave that head at chance while the
    job exits 0 (issue 23): training stops naming the fold and the layer."""
    from xlser.errors import InputError

    X, y = planted(n=200, layers=3, k=1)
    X_va = X[150:].copy()
    X_va[4, 2, 0] = np.nan  # one validation value of layer 2
    with pytest.raises(
        InputError,
        match=r"probe epoch 1: the validation loss of 1 head\(s\) is NaN or inf "
        r"\(fold 0 layer 2\)",
    ):
        train_probe_folds([(X[:150], y[:150], X_va, y[150:])], 4, pcfg(standardize=False, max_epochs=3))
