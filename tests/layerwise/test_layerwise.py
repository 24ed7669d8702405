"""Layer-wise summary: best layer by validation UA (never test UA), Figure 1."""

from __future__ import annotations

import pandas as pd
import pytest

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
            "layer_ge1": 1,
            "val_ua_ge1": 0.81,
            "test_ua_ge1": 0.55,
        }
    ]
    assert abs(best["test_ua_std"][0] - 0.0707107) < 1e-6  # std of 0.5 and 0.6 (ddof=1)


def test_where_layer_0_wins_the_best_layer_ge1_is_recorded_beside_it(tmp_path):
    """Layer 0 (the CNN's output) keeps no transformer layer under layers_kept: k: best_layers.csv
    also names the best layer >= 1 (what LoRA, adapters and gates adapt), by validation UA too;
    a model with no layer above 0 leaves it empty, and the peft stage says so naming the file."""
    from xlser.errors import InputError
    from xlser.peft.settings import best_layer

    s = scores()
    s.loc[s["layer"] == 0, "val_ua"] = 0.95  # layer 0 best on validation; then 1 (0.8), 2 (0.6)
    best = best_layers(summarise(s))
    assert best[["layer", "layer_ge1"]].iloc[0].tolist() == [0, 1]
    assert best["val_ua_ge1"][0] == 0.81 and best["test_ua_ge1"][0] == 0.55
    path = tmp_path / "best_layers.csv"
    write_csv(best.round(6), path)
    assert best_layer(path, "M", "A", "A") == 0 and best_layer(path, "M", "A", "A", column="layer_ge1") == 1
    only0 = best_layers(summarise(s[s["layer"] == 0]))
    assert only0["layer"][0] == 0 and pd.isna(only0["layer_ge1"][0])
    write_csv(only0.round(6), path)
    with pytest.raises(InputError, match=r"no layer >= 1 to adapt") as exc:
        best_layer(path, "M", "A", "A", column="layer_ge1")
    assert exc.value.line == 2
    write_csv(only0.drop(columns=["layer_ge1"]), path)  # written by an earlier xlser
    with pytest.raises(InputError, match=r"no column layer_ge1 .* re-run the layer-wise summary"):
        best_layer(path, "M", "A", "A", column="layer_ge1")


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
