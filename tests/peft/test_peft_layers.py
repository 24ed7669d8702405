"""Where a fine-tuning job's layer comes from (pinned or chosen), and Table I's Layer and no-PEFT columns."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xlser.config import resolve, validate_config
from xlser.errors import ConfigError
from xlser.peft.settings import Layer, job_layer
from xlser.peft.table1 import table1

# two ser corpora in two languages, one model per language: mono, cross and trans experiments
BASE = {
    "corpora": {
        "A": {"format": "csv", "root": "/a", "lang": "CN", "table": "t.csv"},
        "B": {"format": "csv", "root": "/b", "lang": "DE", "table": "t.csv"},
    },
    "models": {"MA": {"source": "ma", "lang": "CN"}, "MB": {"source": "mb", "lang": "DE"}},
    "splits": {"train_per_emotion": 4, "val": 4, "test": 4, "folds": 2},
    "experiments": [
        {"model": "MA", "train": "A", "test": "A"},
        {"model": "MA", "train": "A", "test": "B"},
        {"model": "MA", "train": "B", "test": "B"},
    ],
    "peft": {
        "strategies": ["lora", "two_stage"],
        "experiments": [
            {"model": "MA", "train": "A", "test": "A", "layer": 6},
            {"model": "MA", "train": "A", "test": "B", "layer": 3},
            {"model": "MA", "train": "B", "test": "B"},
        ],
    },
}


def cfg(**peft) -> dict:
    c = copy.deepcopy(BASE)
    c["peft"].update(peft)
    return c


def layer(c: dict, model: str, train: str, test: str, strategy: str) -> Layer:
    s = resolve(c)
    return job_layer(
        c["peft"],
        model=model,
        train=train,
        test=test,
        strategy=strategy,
        source_corpus=s.source_corpus(model),
        layerwise={(e.model, e.train, e.test) for e in s.experiments},
    )


def test_pinned_and_chosen_layers_per_experiment():
    c = cfg()
    assert layer(c, "MA", "A", "A", "lora") == Layer(pinned=6)
    assert layer(c, "MA", "A", "B", "lora") == Layer(pinned=3)
    # no pin: best_layers.csv's row; lora adapts transformer layers: the best layer >= 1 (layers_kept: k)
    assert layer(c, "MA", "B", "B", "lora") == Layer(row=("MA", "B", "B"), column="layer_ge1")
    assert Layer(pinned=6).as_param() == {"pinned": 6} and Layer(row=("MA", "B", "B")).as_param() == {
        "row": ["MA", "B", "B"]
    }
    assert Layer(row=("MA", "B", "B"), column="layer_ge1").as_param() == {
        "row": ["MA", "B", "B"],
        "column": "layer_ge1",
    }
    for lay in (Layer(pinned=0), Layer(row=("MA", "B", "B")), Layer(row=("MA", "B", "B"), column="layer_ge1")):
        assert Layer.from_param(json.loads(json.dumps(lay.as_param()))) == lay
    assert (Layer(pinned=6).source, Layer(row=("M", "A", "A")).source) == ("pinned", "chosen")
    assert Layer(row=("M", "A", "A"), column="layer_ge1").source == "chosen>=1"
    with pytest.raises(ValueError, match="exactly one"):
        Layer()
    with pytest.raises(ValueError, match="column"):
        Layer(row=("M", "A", "A"), column="best")


def test_strategies_that_adapt_take_the_best_layer_that_keeps_one():
    """`frozen` (and the probe column) take the best layer of all; lora, lora+ba+wg and two_stage
    the best layer >= 1 under layers_kept: k (`peft.adapting_layer: adaptable`, the default);
    with k+1 every layer keeps one, and `best` gives every strategy the best of all."""
    row = ("MA", "B", "B")
    c = cfg(strategies=["frozen", "lora", "lora+ba+wg", "two_stage"])
    assert layer(c, *row, "frozen") == Layer(row=row)
    for s in ("lora", "lora+ba+wg", "two_stage"):
        assert layer(c, *row, s) == Layer(row=row, column="layer_ge1")
        assert layer(cfg(strategies=[s], layers_kept="k+1"), *row, s) == Layer(row=row)
        assert layer(cfg(strategies=[s], adapting_layer="best"), *row, s) == Layer(row=row)
    c = cfg()
    validate_config(c)
    assert c["peft"]["adapting_layer"] == "adaptable"  # the schema's default


@pytest.mark.parametrize("strategy", ["lora", "lora+ba+wg", "two_stage"])
def test_a_pinned_layer_with_nothing_to_adapt_is_a_config_error(strategy):
    """Layer 0 with layers_kept: k keeps no transformer layer: a strategy that adapts them would
    train the head alone, i.e. be `frozen` under its own name. The error names the key, the
    strategy, the experiment and the layer."""
    c = cfg(strategies=[strategy])
    c["peft"]["experiments"][2]["layer"] = 0  # MA B -> B
    with pytest.raises(
        ConfigError, match=rf"config peft\.experiments: {re.escape(strategy)} MA B -> B is pinned to layer 0"
    ):
        resolve(c)
    resolve(cfg(strategies=[strategy], layers_kept="k+1", experiments=c["peft"]["experiments"]))  # k+1 keeps one
    ok = cfg(strategies=["frozen"], experiments=c["peft"]["experiments"])
    assert layer(ok, "MA", "B", "B", "frozen") == Layer(pinned=0)  # frozen adapts nothing: fine


def test_a_two_stage_pin_with_nothing_to_adapt_names_where_it_is_pinned():
    own = cfg(two_stage={"experiments": [{"model": "MA", "train": "B", "test": "B", "layer": 0}]})
    with pytest.raises(ConfigError, match=r"config peft\.two_stage\.experiments: two_stage MA B -> B .* layer 0"):
        resolve(own)
    cross = cfg(strategies=["two_stage"], two_stage={"layer_from": "cross"})
    cross["peft"]["experiments"][1]["layer"] = 0  # MA A -> B, the cross experiment two_stage takes
    with pytest.raises(ConfigError, match=r"layer_from: cross \(the layer of MA A -> B in peft\.experiments\)"):
        resolve(cross)


def test_two_stage_takes_its_own_pin_then_the_layer_from_experiment():
    # default layer_from trans: the trans experiment's own layer (here chosen)
    assert layer(cfg(), "MA", "B", "B", "two_stage") == Layer(row=("MA", "B", "B"), column="layer_ge1")
    # cross: the model's cross-lingual experiment, model-language corpus A -> target B (pinned 3)
    assert layer(cfg(two_stage={"layer_from": "cross"}), "MA", "B", "B", "two_stage") == Layer(pinned=3)
    # a pin on the two-stage item wins over both
    own = cfg(
        two_stage={"layer_from": "cross", "experiments": [{"model": "MA", "train": "B", "test": "B", "layer": 5}]}
    )
    assert layer(own, "MA", "B", "B", "two_stage") == Layer(pinned=5)
    assert layer(own, "MA", "B", "B", "lora") == Layer(
        row=("MA", "B", "B"), column="layer_ge1"
    )  # other strategies: unchanged
    # cross, unpinned: chosen from the cross experiment's row
    c = cfg(two_stage={"layer_from": "cross"})
    c["peft"]["experiments"][1].pop("layer")
    assert layer(c, "MA", "B", "B", "two_stage") == Layer(row=("MA", "A", "B"), column="layer_ge1")


def test_a_layer_without_a_source_is_a_config_error_naming_the_key():
    c = cfg()
    c["experiments"] = [{"model": "MA", "train": "A", "test": "A"}]  # MA B->B is no layer-wise experiment
    with pytest.raises(ConfigError, match=r"config peft\.experiments: the layer of lora MA B -> B .* pin its layer"):
        resolve(c)
    c = cfg(two_stage={"layer_from": "cross"})
    c["peft"]["experiments"][1].pop("layer")
    c["experiments"] = [{"model": "MA", "train": "B", "test": "B"}]
    c["peft"]["experiments"] = [{"model": "MA", "train": "B", "test": "B", "layer": 4}]
    with pytest.raises(ConfigError, match=r"config peft\.two_stage\.layer_from: cross: .* train: A, test: B"):
        resolve(c)
    c = cfg(table1={"no_peft": "probe"})
    c["experiments"] = [{"model": "MA", "train": "B", "test": "B"}]
    with pytest.raises(ConfigError, match=r"config peft\.table1\.no_peft: probe .* MA A -> A"):
        resolve(c)
    bad = cfg()
    bad["peft"]["experiments"][0]["layer"] = -1
    with pytest.raises(ConfigError, match=r"peft\.experiments"):
        validate_config(bad)


def test_schema_defaults_are_todays_behaviour():
    c = {"corpora": BASE["corpora"], "splits": BASE["splits"], "peft": {"strategies": ["lora"]}}
    validate_config(c)
    assert c["peft"]["two_stage"]["layer_from"] == "trans" and c["peft"]["table1"]["no_peft"] == "frozen"
    assert c["peft"]["batch_size"] == 16


# ---- Table I


def _metrics(
    d: Path,
    model="W2V2-CN",
    train="X",
    test="X",
    setting="mono",
    strategy="lora",
    fold=0,
    ua=0.5,
    layer=4,
    source="pinned",
) -> str:
    m = {
        "model": model,
        "setting": setting,
        "train": train,
        "test": test,
        "strategy": strategy,
        "fold": fold,
        "layer": layer,
        "layer_source": source,
        "ua": ua,
        "wa": ua,
        "macro_f1": ua,
        "epochs": 3,
        "train_lang": "CN",
        "test_lang": "CN",
    }
    p = d / f"{model}_{train}_{test}_{strategy}_{fold}.json"
    p.write_text(json.dumps(m))
    return str(p)


def test_table1_says_which_layer_ran_and_whether_pinned_or_chosen(tmp_path):
    paths = [_metrics(tmp_path, strategy=s, fold=f) for s in ("frozen", "lora") for f in (0, 1)]
    paths += [
        _metrics(tmp_path, train="Y", test="Y", setting="trans", strategy=s, layer=k, source=src)
        for s, k, src in (("lora", 5, "chosen"), ("two_stage", 3, "pinned"))
    ]
    table1(paths, tmp_path / "t1.csv")
    csv = pd.read_csv(tmp_path / "t1.csv")
    assert set(zip(csv["strategy"], csv["layer"], csv["layer_source"])) == {
        ("frozen", 4, "pinned"),
        ("lora", 4, "pinned"),
        ("lora", 5, "chosen"),
        ("two_stage", 3, "pinned"),
    }
    md = (tmp_path / "t1.md").read_text()
    assert "| 4 (pinned) |" in md and "5 (chosen): lora; 3 (pinned): two_stage" in md


def test_table1_no_peft_from_the_probe_at_the_experiments_layer(tmp_path):
    """`no_peft: probe`: the probe's per-fold test scores at the fine-tuning layer, mean and std
    over the fine-tuned folds, with the study's no-PEFT value beside them."""
    paths = [_metrics(tmp_path, strategy="lora", fold=f, ua=u) for f, u in ((0, 0.6), (1, 0.7))]
    rows = [
        {
            "model": "W2V2-CN",
            "setting": "mono",
            "train": "X",
            "test": "X",
            "fold": f,
            "layer": k,
            "ua": 0.1 * k + 0.01 * f,
            "wa": 0.0,
            "macro_f1": 0.0,
            "val_ua": 0.0,
        }
        for f in (0, 1, 2)
        for k in range(6)
    ]
    scores = tmp_path / "X__X.csv"
    pd.DataFrame(rows).to_csv(scores, index=False)
    exp = ("W2V2-CN", "X", "X")
    summary = table1(
        paths,
        tmp_path / "t1.csv",
        no_peft="probe",
        probe_scores={exp: scores},
        probe_layers={exp: Layer(pinned=4)},
        folds=[0, 1],
    )
    probe = summary[summary["strategy"] == "probe"].iloc[0]
    assert probe["ua_mean"] == pytest.approx(np.mean([0.40, 0.41]))  # layer 4, folds 0 and 1 (not 2)
    assert probe["ua_std"] == pytest.approx(np.std([0.40, 0.41], ddof=1)) and probe["n_folds"] == 2
    assert probe["study_ua"] == pytest.approx(0.914)  # W2V2-CN mono CN->CN "no PEFT": 91.4
    assert summary[summary["strategy"] == "lora"]["study_ua"].iloc[0] == pytest.approx(0.870)  # LoRA: 87.0
    assert (probe["layer"], probe["layer_source"]) == (4, "pinned")
    # a chosen layer is read from best_layers.csv
    best = tmp_path / "best_layers.csv"
    best.write_text("model,setting,train,test,layer\nW2V2-CN,mono,X,X,2\n")
    summary = table1(
        paths,
        tmp_path / "t2.csv",
        no_peft="probe",
        probe_scores={exp: scores},
        probe_layers={exp: Layer(row=exp)},
        best_layers=best,
        folds=[0, 1],
    )
    probe = summary[summary["strategy"] == "probe"].iloc[0]
    assert probe["ua_mean"] == pytest.approx(np.mean([0.20, 0.21])) and probe["layer_source"] == "chosen"
    with pytest.raises(ValueError, match="no_peft"):
        table1(paths, tmp_path / "t3.csv", no_peft="frozen-ish")
