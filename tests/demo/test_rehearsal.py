"""The study-scale rehearsal (xlser.demo.rehearsal): the protocol is paper.yaml's with only
inputs and scale replaced, the synthetic corpora have the real layouts and sizes and are read
by the real adapters, the checkpoints load as the hub's do."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from xlser.config import PLACEHOLDER, resolve
from xlser.data.corpora import scan_corpus
from xlser.demo import rehearsal as R
from xlser.errors import ConfigError
from xlser.report.cost import forecast_basis

REPO = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((REPO / "config" / "rehearsal.yaml").read_text(encoding="utf-8"))
PAPER = yaml.safe_load((REPO / SPEC["protocol"]).read_text(encoding="utf-8"))
EMO = ["angry", "happy", "neutral", "sad"]


def strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


def test_scaled_keeps_scale_one_and_floors():
    assert R.scaled(400, 1.0, 4) == 400
    assert R.scaled(400, 0.05, 4) == 20
    assert R.scaled(400, 0.001, 4) == 4
    assert R.scaled(10, 0.01, 1) == 1


def test_scale_protocol_hand_computed():
    cfg = {
        "emotions": EMO,
        "splits": {"train_per_emotion": 400, "val": 200, "test": 200, "folds": 5, "listening_per_emotion": 12},
        "probe": {"max_epochs": 100, "patience": 10},
        "peft": {"max_epochs": 100, "patience": 10, "folds": [0, 1, 2, 3, 4]},
        "sed": {"per_emotion": 8},
    }
    full = R.scale_protocol(copy.deepcopy(cfg), 1.0)
    assert full == cfg
    s = R.scale_protocol(copy.deepcopy(cfg), 0.1)
    assert s["splits"] == {"train_per_emotion": 40, "val": 20, "test": 20, "folds": 5, "listening_per_emotion": 3}
    assert s["probe"] == {"max_epochs": 10, "patience": 1}
    assert s["peft"]["folds"] == [0] and s["peft"]["max_epochs"] == 10
    assert s["sed"]["per_emotion"] == 2
    with pytest.raises(ConfigError, match="scale"):
        R.scale_protocol(copy.deepcopy(cfg), 1.5)


def test_rehearsal_config_is_paper_yaml_with_inputs_replaced(tmp_path):
    protocol = copy.deepcopy(PAPER)
    # keys other engineers add to paper.yaml as placeholders: the rehearsal drops them
    protocol["corpora"]["ESD"]["folds"] = "/path/to/split_id/CN_ESD"
    protocol["sed"]["subset"] = "/path/to/listening/sed_subset.csv"
    protocol["human"]["stimuli"] = "/path/to/listening/stimuli.csv"
    layout = R.Layout(tmp_path / "inputs")
    cfg = R.rehearsal_config(protocol, SPEC, 1.0, layout)
    assert not [s for s in strings(cfg) if PLACEHOLDER in s]
    assert "folds" not in cfg["corpora"]["ESD"] and "subset" not in cfg["sed"] and "stimuli" not in cfg["human"]
    assert cfg["corpora"]["IEMOCAP"]["root"] == str(tmp_path / "inputs" / "corpora" / "IEMOCAP")
    assert cfg["models"]["W2V2-CN"]["source"] == str(tmp_path / "inputs" / "models" / "W2V2-CN")
    assert cfg["human"]["webmushra"] == [str(layout.listening / "results" / t["id"]) for t in PAPER["human"]["tests"]]
    # at scale 1 everything else is paper.yaml's
    for key in ("splits", "experiments", "probe", "peft", "features", "emotions"):
        assert cfg[key] == PAPER[key], key
    assert {k: v for k, v in cfg["sed"].items() if k != "models"} == {
        k: v for k, v in PAPER["sed"].items() if k not in ("models", "subset")
    }
    resolve(copy.deepcopy(cfg))  # the workflow's schema accepts it
    # and with the section tools/rehearsal.py adds for the cost table's forecast
    cfg["rehearsal"] = forecast_basis(SPEC, cfg, PAPER, 1.0)
    assert cfg["rehearsal"]["utterances"]["ESD"] == 10 * 350 * 4
    assert cfg["rehearsal"]["peft_folds"] == len(PAPER["peft"].get("folds", range(PAPER["splits"]["folds"])))
    resolve(copy.deepcopy(cfg))


def test_rehearsal_config_names_a_corpus_without_stand_in(tmp_path):
    protocol = copy.deepcopy(PAPER)
    protocol["corpora"]["EMODB"] = {"format": "csv", "root": "/path/to/EMODB", "lang": "DE"}
    with pytest.raises(ConfigError, match=r"corpus EMODB has no synthetic stand-in under corpora\.EMODB"):
        R.rehearsal_config(protocol, SPEC, 0.1, R.Layout(tmp_path))


def test_full_scale_plans_have_the_real_sizes():
    cfg = R.rehearsal_config(PAPER, SPEC, 1.0, R.Layout(Path("/x")))
    esd = R.corpus_plan(SPEC["corpora"]["ESD"], cfg, 1.0)
    assert esd == {"speakers": 10, "per_speaker_emotion": 350}
    pav = R.corpus_plan(SPEC["corpora"]["PAVOQUE"], cfg, 1.0)["counts"]
    assert pav["neutral"] > sum(pav.values()) / 2  # neutral > 50 %
    iem = R.corpus_plan(SPEC["corpora"]["IEMOCAP"], cfg, 1.0)
    per_session = {lab: c * iem["sessions"] for lab, c in iem["counts"].items()}
    # ceil(count / 5) per session: within 4 of the release's counts
    for lab, real in {"neu": 1708, "hap": 595, "exc": 1041, "ang": 1103, "sad": 1084}.items():
        assert real <= per_session[lab] < real + 5
    assert R.corpus_plan(SPEC["corpora"]["ZED"], cfg, 1.0)["per_emotion"] * 3 == 180


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Every synthetic corpus at scale 0.01, written once."""
    root = tmp_path_factory.mktemp("rehearsal")
    layout = R.Layout(root)
    cfg = R.rehearsal_config(PAPER, SPEC, 0.01, layout)
    info = {
        name: R.write_corpus(layout.corpus(name), name, SPEC["corpora"][name], c, cfg, 0.01, 42)
        for name, c in cfg["corpora"].items()
    }
    return cfg, info


def test_small_corpora_read_by_the_real_adapters(small):
    cfg, info = small
    for name, c in cfg["corpora"].items():
        df = scan_corpus(name, c, EMO)
        plan = info[name]["plan"]
        counts = df.groupby("emotion").size().to_dict()
        if name == "ESD":
            assert df["speaker"].nunique() == 10
            assert counts == dict.fromkeys(EMO, 10 * plan["per_speaker_emotion"])
            assert (df["duration_s"].between(1.5, 5.5 + 1e-3)).all()
        elif name == "PAVOQUE":
            assert counts == {e: plan["counts"][e] for e in EMO}  # poker left out by the adapter
        elif name == "IEMOCAP":
            labels = {"neutral": "neu", "happy": "hap", "angry": "ang", "sad": "sad"}
            want = {e: 5 * plan["counts"][labels[e]] for e in EMO}  # fru, xxx, ... left out
            if c.get("merge_excited"):
                want["happy"] += 5 * plan["counts"]["exc"]
            assert counts == want
            assert set(df["dialog"]) == {"improvised", "scripted"}
            assert df["session"].nunique() == 5 and df["speaker"].nunique() == 10
            assert df["duration_s"].max() == pytest.approx(30.0, abs=0.01)  # the long utterance, at every scale
        elif name == "ZED":
            assert len(df) == 3 * plan["per_emotion"]
        elif name == "TJD":
            assert counts == dict.fromkeys(EMO, plan["speakers"] * plan["per_speaker_emotion"])
        if name != "ZED":  # (ZED's utterances also hold the silent gaps between their three parts)
            assert info[name]["seconds"] >= df["duration_s"].sum() - 1e-3


def test_small_corpora_are_big_enough_for_the_scaled_splits(small):
    from xlser.data.splits import make_splits

    cfg, _ = small
    sp = cfg["splits"]
    for name in ("ESD", "PAVOQUE", "IEMOCAP"):
        c = cfg["corpora"][name]
        df = scan_corpus(name, c, EMO)
        out = make_splits(
            df,
            EMO,
            sp["train_per_emotion"],
            sp["val"],
            sp["test"],
            sp["folds"],
            sp["seed"],
            c["split_by"],
            name,
            sp["heldout"],
        )
        assert out.groupby(["fold", "partition"]).size().loc[(0, "train")] == 4 * sp["train_per_emotion"]


def test_wav2vec2_base_checkpoint_loads_as_the_hubs(tmp_path):
    from xlser.models.loading import load_encoder, load_feature_extractor

    out = R.write_wav2vec2_base(tmp_path / "W2V2", seed=1)
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["intermediate_size"]) == (
        768,
        12,
        12,
        3072,
    )
    assert cfg["feat_extract_norm"] == "group" and cfg["conv_bias"] is False
    model = load_encoder(str(out))
    assert 94_000_000 < sum(p.numel() for p in model.parameters()) < 95_500_000  # wav2vec2-base: 94.4 M
    assert load_feature_extractor(str(out)).return_attention_mask is False


def test_wavlm_large_architecture():
    from transformers import WavLMConfig

    c = WavLMConfig(**R.WAVLM_LARGE)
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (1024, 24, 16, 4096)
    assert c.feat_extract_norm == "layer" and c.do_stable_layer_norm and c.conv_bias
    assert (c.num_buckets, c.max_bucket_distance) == (320, 800)
