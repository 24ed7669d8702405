"""Feature extraction: mask-aware pooling, every encoder class, one pass for all layers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from transformers import (Data2VecAudioConfig, Data2VecAudioModel, HubertConfig, HubertModel, Wav2Vec2Config,
                          Wav2Vec2FeatureExtractor, Wav2Vec2Model, WavLMConfig, WavLMModel)

from xlser.features import encode_batch, extract_features, load_features, masked_mean, save_features
from xlser.models import ModelLoadError, load_encoder

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(32, 32),
            conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
            hidden_dropout=0.0, attention_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0)
CLASSES = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model), "hubert": (HubertConfig, HubertModel),
           "wavlm": (WavLMConfig, WavLMModel), "data2vec-audio": (Data2VecAudioConfig, Data2VecAudioModel)}


def save_tiny(path, kind="wav2vec2", layer_norm=True, mask=True):
    cfg_cls, model_cls = CLASSES[kind]
    extra = {"feat_extract_norm": "layer", "do_stable_layer_norm": True} if layer_norm and kind != "data2vec-audio" else {}
    if kind == "data2vec-audio":
        extra = {"conv_pos_kernel_size": 5, "num_conv_pos_embeddings": 5}
    torch.manual_seed(0)
    model_cls(cfg_cls(**{**TINY, **extra})).save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=mask).save_pretrained(path)
    return str(path)


def wav(seconds, seed):
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * 16000)).astype(np.float32)


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert", "wavlm"])
def test_padding_does_not_change_pooled_features(tmp_path, kind):
    src = save_tiny(tmp_path / kind, kind)
    model, fe = load_encoder(src), Wav2Vec2FeatureExtractor.from_pretrained(src)
    short, long = wav(0.7, 1), wav(1.9, 2)
    alone = encode_batch(model, fe, [short], torch.device("cpu"))
    padded = encode_batch(model, fe, [short, long], torch.device("cpu"))
    assert alone.shape == (1, 3, 32)  # CNN output (layer 0) + 2 layers
    torch.testing.assert_close(padded[0], alone[0], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(padded[0], padded[1])


def test_masked_mean_by_hand():
    h = torch.arange(2 * 1 * 4 * 1, dtype=torch.float32).reshape(1, 2, 4, 1)  # (L=1, B=2, T=4, D=1)
    out = masked_mean(h, torch.tensor([2, 4]))
    assert out[:, 0, 0].tolist() == [0.5, 5.5]  # mean(0, 1) and mean(4..7)


def write_corpus(tmp_path, durations):
    rows = []
    for i, d in enumerate(durations):
        p = tmp_path / f"u{i}.wav"
        sf.write(str(p), wav(d, 10 + i), 16000, subtype="FLOAT")
        rows.append({"utt_id": f"u{i}", "path": str(p), "duration_s": d})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("kind,layer_norm,mask", [("wav2vec2", True, True), ("wav2vec2", False, False),
                                                  ("data2vec-audio", True, True)])
def test_extract_matches_one_utterance_at_a_time(tmp_path, kind, layer_norm, mask):
    """Batched (mask) or one-by-one (group-norm without mask; data2vec) extraction equals
    per-utterance passes."""
    src = save_tiny(tmp_path / "m", kind, layer_norm=layer_norm, mask=mask)
    man = write_corpus(tmp_path, [0.6, 1.3, 0.9, 2.0, 0.5])
    ids, X, meta = extract_features(man, src, "cpu", max_batch_seconds=4.0)
    assert X.dtype == np.float16 and X.shape == (5, 3, 32) and list(ids) == [f"u{i}" for i in range(5)]
    model, fe = load_encoder(src), Wav2Vec2FeatureExtractor.from_pretrained(src)
    for i, d in enumerate(man["duration_s"]):
        ref = encode_batch(model, fe, [wav(d, 10 + i)], torch.device("cpu"))[0].numpy()
        np.testing.assert_allclose(X[i].astype(np.float32), ref, atol=2e-2, rtol=1e-2)  # float16 storage
    save_features(tmp_path / "f.npz", ids, X, meta)
    ids2, X2, meta2 = load_features(tmp_path / "f.npz")
    assert list(ids2) == list(ids) and np.array_equal(X2, X) and meta2 == {"model": src, "layers": 2}


def test_group_norm_models_are_not_padded(tmp_path):
    """Without an attention mask, zero padding would change a group-norm CNN's output: the
    extractor must not batch such checkpoints."""
    src = save_tiny(tmp_path / "gn", layer_norm=False, mask=False)
    model, fe = load_encoder(src), Wav2Vec2FeatureExtractor.from_pretrained(src)
    short, long = wav(0.7, 1), wav(1.9, 2)
    alone = encode_batch(model, fe, [short], torch.device("cpu"))
    padded = encode_batch(model, fe, [short, long], torch.device("cpu"))
    assert not torch.allclose(padded[0], alone[0], atol=1e-3)  # why one-by-one is needed


def test_unknown_model_id_error_names_id():
    with pytest.raises(ModelLoadError, match=r"(?s)'org/not-a-model'.*must be on disk .* or reachable"):
        load_encoder("org/not-a-model")
