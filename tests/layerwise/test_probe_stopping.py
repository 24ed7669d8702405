"""The epoch at which a probe stops, pinned for given validation-loss sequences: by hand,
against a re-statement of the rule, and end to end (a probe that cannot learn, lr = 0, has
the same validation loss every epoch); and the layer whose predictions an experiment keeps
(best on validation, where test peaks elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xlser.config import Optim
from xlser.layerwise.probe import Patience, ProbeConfig, train_probes


def stop_epoch(losses, patience: int, tie: bool) -> int | None:
    """1-based epoch at which `patience` epochs in a row have not reset the count (None: never)."""
    best, bad = float("inf"), 0
    for epoch, loss in enumerate(losses, 1):
        if loss < best or (tie and loss == best):
            best, bad = loss, 0
        else:
            bad += 1
        if bad >= patience:
            return epoch
    return None


def patience_stops(losses, patience: int, reset: str) -> int | None:
    p = Patience(1, patience, reset)
    for epoch, loss in enumerate(losses, 1):
        if bool(p.update(torch.tensor([float(loss)]))[0]):
            return epoch
    return None


@pytest.mark.parametrize(
    "losses,patience,improve,tie",
    [
        ([1.0, 0.9, 0.95, 0.97, 0.99], 3, 5, 5),  # best at 2, three worse: stops at 5
        ([1.0, 0.9, 0.9, 0.9, 0.9, 0.9], 3, 5, None),  # ties: count under `improve`, reset under `tie`
        ([1.0, 1.0], 1, 2, None),
        ([2.0, 1.0, 0.5, 0.25], 1, None, None),  # always better: never
        ([1.0, 2.0, 0.5, 2.0, 2.0], 2, 5, 5),  # the count restarts after 0.5
    ],
)
def test_stop_epoch_by_hand(losses, patience, improve, tie):
    assert patience_stops(losses, patience, "improve") == improve == stop_epoch(losses, patience, False)
    assert patience_stops(losses, patience, "tie") == tie == stop_epoch(losses, patience, True)


def test_stop_epoch_on_random_sequences_and_per_head():
    rng = np.random.default_rng(0)
    seqs = [np.round(rng.uniform(0, 1, 30), 1) for _ in range(40)]  # rounded: ties happen
    for reset in ("improve", "tie"):
        for patience in (1, 2, 4):
            p = Patience(len(seqs), patience, reset)
            stopped = [None] * len(seqs)
            for epoch in range(30):
                stop = p.update(torch.tensor([s[epoch] for s in seqs], dtype=torch.float32))
                for i in np.flatnonzero(stop.numpy()):
                    stopped[i] = stopped[i] or epoch + 1
            assert stopped == [stop_epoch(s, patience, reset == "tie") for s in seqs]


def cfg(patience: int, reset: str, max_epochs: int = 12, lr: float = 0.0) -> ProbeConfig:
    return ProbeConfig(
        Optim(lr=lr, eps=1e-8, weight_decay=0.0, batch_size=8, max_epochs=max_epochs, patience=patience, seed=0),
        "linear",
        "val_ua",
        True,
        "per_layer",
        "every_epoch",
        reset,
    )


@pytest.mark.parametrize("patience", [1, 3, 5])
def test_a_probe_that_cannot_learn_stops_after_patience_epochs(patience):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 3, 6)).astype(np.float32), np.arange(40) % 4
    res = train_probes(X[:30], y[:30], X[30:], y[30:], 4, cfg(patience, "improve"))
    # lr 0: the same validation loss every epoch; epoch 1 sets it, `patience` more end training
    assert res.epochs.tolist() == [patience + 1] * 3
    assert res.best_epoch.tolist() == [1] * 3
    # with `tie` an equal loss resets the count: the epoch budget ends it
    assert train_probes(X[:30], y[:30], X[30:], y[30:], 4, cfg(patience, "tie")).epochs.tolist() == [12] * 3


def test_probe_experiment_predicts_with_the_layer_best_on_validation():
    """Layer 0 carries the emotion on training and validation utterances only, layer 2 weakly on
    all of them: validation peaks at 0, test at 2; the predictions must come from layer 0."""
    import pandas as pd

    from xlser.layerwise.probe import probe_experiment
    from xlser.metrics import ua

    emo = ["angry", "happy", "neutral", "sad"]
    rng = np.random.default_rng(4)
    n_train, n_val, n_test = 120, 40, 40
    n = n_train + n_val + n_test
    y = np.arange(n) % 4
    X = rng.normal(size=(n, 3, 8)).astype(np.float32)
    X[: n_train + n_val, 0, :4] += 5.0 * np.eye(4)[y[: n_train + n_val]]
    X[:, 2, :4] += 2.0 * np.eye(4)[y]
    ids = np.array([f"u{i:03d}" for i in range(n)])
    part = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    splits = pd.DataFrame({"utt_id": ids, "fold": 0, "partition": part})
    man = pd.DataFrame({"utt_id": ids, "emotion": [emo[i] for i in y]})
    config = cfg(10, "improve", max_epochs=30, lr=1e-2)
    scores, preds = probe_experiment(
        (ids, X),
        (ids, X),
        man,
        man,
        splits,
        splits,
        emo,
        config,
        {"model": "M", "setting": "mono", "train": "A", "test": "A"},
    )
    by = scores.set_index("layer")
    assert by["val_ua"].idxmax() == 0 and by["ua"].idxmax() == 2  # the inputs discriminate
    assert set(preds["layer"]) == {0}
    assert ua(preds["true"].tolist(), preds["pred"].tolist(), emo) == pytest.approx(by.loc[0, "ua"], abs=1e-12)
