"""Demo models: real Hugging Face classes, saved with save_pretrained, loaded with from_pretrained."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor, AutoModel

from xlser.demo.models import build_demo_model
from xlser.models.loading import ModelLoadError, load_encoder

SPEC = {
    "hidden_size": 32,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "seed": 1,
    "conv_dim": 32,
    "feat_extract_norm": "layer",
    "initializer_range": 0.02,
}  # a schema-complete spec


@pytest.mark.parametrize("kind,cls", [("wav2vec2", "Wav2Vec2Model"), ("wavlm", "WavLMModel")])
def test_demo_model_round_trip(tmp_path, kind, cls):
    path = build_demo_model(tmp_path / kind, {**SPEC, "type": kind})
    model = AutoModel.from_pretrained(path).eval()
    fe = AutoFeatureExtractor.from_pretrained(path)
    assert type(model).__name__ == cls and fe.sampling_rate == 16000 and fe.return_attention_mask
    x = fe([np.random.default_rng(0).normal(size=16000).astype(np.float32)], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        out = model(x.input_values, attention_mask=x.attention_mask, output_hidden_states=True)
    assert len(out.hidden_states) == SPEC["num_hidden_layers"] + 1
    assert out.hidden_states[-1].shape == (1, 48, 32)  # 20 ms frames, as the real checkpoints
    again = build_demo_model(tmp_path / "again", {**SPEC, "type": kind})
    assert (again / "model.safetensors").read_bytes() == (path / "model.safetensors").read_bytes()  # seeded


def test_unknown_model_id_names_the_id(tmp_path):
    with pytest.raises(
        ModelLoadError, match=r"(?s)cannot load speech encoder .no-such-org/no-such-model.*must be on disk"
    ):
        load_encoder("no-such-org/no-such-model")


# ---- pre-training on the model's own language (xlser.demo.pretrain)

import json  # noqa: E402

import pandas as pd  # noqa: E402

from xlser.demo import pretrain as pt  # noqa: E402
from xlser.demo.sentences import PRETRAIN_SENTENCES, SENTENCES, pretrain_sentences  # noqa: E402
from xlser.models.loading import load_feature_extractor  # noqa: E402

TINY = {
    "type": "wav2vec2",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": 16,
    "feat_extract_norm": "layer",
    "initializer_range": 0.02,
}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """Two tiny models, English and German, pre-trained for a few steps (one voice)."""
    root = tmp_path_factory.mktemp("pretrained")
    out = {}
    for lang, seed in (("en", 1), ("de", 2)):
        res = pt.pretrain_demo_model(
            root / lang,
            {**TINY, "seed": seed, "voice": lang},
            steps=20,
            batch_size=4,
            lr=5e-3,
            voices=["f1"],
            curve_csv=root / f"{lang}.csv",
        )
        out[lang] = (root / lang, root / f"{lang}.csv", res)
    return out


def test_pretraining_lowers_the_loss(pretrained):
    _, csv, res = pretrained["en"]
    curve = pd.read_csv(csv)
    assert list(curve["step"]) == list(range(1, 21))
    assert curve["loss"].tolist() == pytest.approx(res["curve"], abs=1e-4)
    assert curve["loss"].iloc[-3:].mean() < 0.75 * curve["loss"].iloc[:3].mean()


def test_pretraining_is_seeded(pretrained):
    (utts,), vocab = pt.synthesize([("en", pretrain_sentences("en")[0][:3], ["f1"])])
    runs = [pt.train_ctc(pt.ctc_model({**TINY, "seed": 5}, vocab), utts, vocab, 3, 2, 5e-3, seed=5) for _ in range(2)]
    assert runs[0] == runs[1]


def test_pretrained_checkpoint_loads_into_the_bare_encoder(pretrained, tmp_path):
    path = pretrained["en"][0]
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["architectures"] == ["Wav2Vec2ForCTC"] and (path / "preprocessor_config.json").is_file()
    from transformers import AutoModelForCTC

    ctc = AutoModelForCTC.from_pretrained(path)
    enc = load_encoder(str(path))
    assert type(enc).__name__ == "Wav2Vec2Model"
    want = {k.removeprefix("wav2vec2."): v for k, v in ctc.state_dict().items() if k.startswith("wav2vec2.")}
    got = enc.state_dict()
    assert set(got) == set(want)  # every encoder weight, none left random
    assert all(torch.equal(got[k], want[k]) for k in want)
    # the pre-trained weights, not a fresh init: the CNN moved away from its filterbank start
    fresh = pt.ctc_model({**TINY, "seed": 1}, list(range(cfg["vocab_size"]))).wav2vec2.state_dict()
    assert not torch.equal(
        fresh["encoder.layers.0.attention.k_proj.weight"], got["encoder.layers.0.attention.k_proj.weight"]
    )
    assert load_feature_extractor(str(path)).return_attention_mask
    # a checkpoint that lacks an encoder weight fails loudly through the same loader
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(path, broken)
    sd = load_file(broken / "model.safetensors")
    del sd["wav2vec2.encoder.layers.0.attention.k_proj.weight"]
    save_file(sd, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match="k_proj"):
        load_encoder(str(broken))


def test_pretraining_sentences_are_not_the_corpora_and_held_out_is_apart():
    corpus = {s for v in SENTENCES.values() for s in v}
    for lang in PRETRAIN_SENTENCES:
        train, held = pretrain_sentences(lang)
        assert len(held) >= 5 and len(train) >= 20
        assert not set(train) & set(held) and not (set(train) | set(held)) & corpus


def test_heldout_table_scores_every_model_on_every_language_held_out_only(pretrained, tmp_path):
    dirs = {"W-EN": pretrained["en"][0], "W-DE": pretrained["de"][0]}
    table = pt.heldout_table(dirs, ["f4"], seed=0)
    assert sorted(zip(table["model"], table["test_lang"])) == [
        ("W-DE", "de"),
        ("W-DE", "en"),
        ("W-EN", "de"),
        ("W-EN", "en"),
    ]
    assert (table["own"] == (table["model_lang"] == table["test_lang"])).all()
    assert (table["n_utterances"] == len(pretrain_sentences("en")[1])).all()
    assert table["ctc_loss"].gt(0).all() and table["per"].between(0, 1.5).all()
    for lang in ("en", "de"):  # what the models trained on is recorded, and disjoint from what they are scored on
        info = json.loads((dirs[f"W-{lang.upper()}"] / pt.INFO_FILE).read_text())
        assert info["sentences"] == pretrain_sentences(lang)[0]
    # a model that trained on a held-out sentence cannot be scored on it
    import shutil

    leaky = tmp_path / "leaky"
    shutil.copytree(dirs["W-EN"], leaky)
    info = json.loads((leaky / pt.INFO_FILE).read_text())
    info["sentences"].append(pretrain_sentences("en")[1][0])
    (leaky / pt.INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(ValueError, match="held-out"):
        pt.heldout_table({"W-EN": leaky}, ["f4"])


def test_plot_pretraining_writes_the_figure(pretrained, tmp_path):
    table = pd.DataFrame(
        {"model": ["A", "A", "B", "B"], "test_lang": ["de", "en"] * 2, "ctc_loss": [1.0, 2.0, 2.5, 1.5]}
    )
    pt.plot_pretraining({"A": pd.read_csv(pretrained["en"][1])}, table, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_edit_distance():
    assert pt.edit_distance("kitten", "sitting") == 3 and pt.edit_distance([], [1, 2]) == 2
