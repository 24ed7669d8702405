"""Layer-wise summary: best layer by validation UA (never test UA), Figure 1."""

from __future__ import annotations

import pandas as pd

from xlser.io import write_csv
from xlser.layerwise.summary import best_layers, layerwise_summary, summarise


def scores(model="M", setting="mono", train="A", test="A", layers=3):
    rows = []
    for fold in (0, 1):
        for layer in range(layers):
            # layer 1 is best on validation, layer 2 best on test: the choice must be 1
            val = {0: 0.4, 1: 0.8, 2: 0.6}[layer] + 0.02 * fold
            ua = {0: 0.3, 1: 0.5, 2: 0.9}[layer] + 0.1 * fold
            rows.append(
                {
                    "model": model,
                    "setting": setting,
                    "train": train,
                    "test": test,
                    "fold": fold,
                    "layer": layer,
                    "ua": ua,
                    "wa": ua,
                    "macro_f1": ua,
                    "epochs": 10,
                    "val_ua": val,
                    "val_loss": 1 - val,
                }
            )
    return pd.DataFrame(rows)


def test_best_layer_by_validation_never_test():
    best = best_layers(summarise(scores()))
    assert best.to_dict("records") == [
        {
            "model": "M",
            "setting": "mono",
            "train": "A",
            "test": "A",
            "layer": 1,
            "val_ua": 0.81,
            "test_ua": 0.55,
            "test_ua_std": best["test_ua_std"][0],
        }
    ]
    assert abs(best["test_ua_std"][0] - 0.0707107) < 1e-6  # std of 0.5 and 0.6 (ddof=1)


def test_summary_table_and_figure(tmp_path):
    files = []
    for i, (setting, tr, te) in enumerate([("mono", "A", "A"), ("cross", "A", "B"), ("trans", "B", "B")]):
        for model in ("M1", "M2"):
            f = tmp_path / f"{model}_{i}.csv"
            write_csv(scores(model, setting, tr, te), f)
            files.append(f)
    out = layerwise_summary(
        files, tmp_path / "t.csv", tmp_path / "b.csv", tmp_path / "f.png", tmp_path / "f.pdf", {"A": "CN", "B": "DE"}
    )
    table = pd.read_csv(tmp_path / "t.csv")
    assert len(table) == 2 * 3 * 3 and (table["folds"] == 2).all()
    assert set(zip(table["model"], table["setting"], table["layer"])) == {
        (m, s, layer) for m in ("M1", "M2") for s in ("mono", "cross", "trans") for layer in range(3)
    }
    assert table.loc[0, "ua_mean"] == out.loc[0, "ua_mean"]
    assert len(pd.read_csv(tmp_path / "b.csv")) == 6
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "f.pdf").stat().st_size > 5000
