"""Tiny speech encoders of the real Hugging Face classes (hidden 32, 2 layers, 200 frames/s) for fast tests."""

from __future__ import annotations

import numpy as np
import torch
from transformers import (
    Data2VecAudioConfig,
    Data2VecAudioModel,
    HubertConfig,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
)

TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (32, 32, 32),
    "conv_kernel": (10, 4, 4),
    "conv_stride": (5, 4, 4),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "hidden_dropout": 0.0,
    "attention_dropout": 0.0,
    "feat_proj_dropout": 0.0,
    "layerdrop": 0.0,
}
LAYER_NORM = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}
#: name -> (config class, model class, extra config); group-norm CNN unless the name says otherwise
KINDS = {
    "wav2vec2-group": (Wav2Vec2Config, Wav2Vec2Model, {}),
    "wav2vec2-layer": (Wav2Vec2Config, Wav2Vec2Model, LAYER_NORM),
    "hubert-group": (HubertConfig, HubertModel, {}),
    "wavlm-group": (WavLMConfig, WavLMModel, {}),
    "wavlm-layer": (WavLMConfig, WavLMModel, LAYER_NORM),
    "data2vec-audio": (Data2VecAudioConfig, Data2VecAudioModel, {"num_conv_pos_embeddings": 5}),
}
EXACT = [k for k in KINDS if k != "data2vec-audio"]


def tiny_model(kind: str, seed: int = 0) -> torch.nn.Module:
    cfg_cls, model_cls, extra = KINDS[kind]
    torch.manual_seed(seed)
    model = model_cls(cfg_cls(**{**TINY, **extra})).eval()
    with torch.no_grad():  # non-trivial group-norm affine weights (they start at 1 and 0)
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


def feature_extractor(kind: str) -> Wav2Vec2FeatureExtractor:
    """As the checkpoints ship them: a group-norm CNN takes no attention mask."""
    return Wav2Vec2FeatureExtractor(
        sampling_rate=16000, do_normalize=True, return_attention_mask=KINDS[kind][2].get("feat_extract_norm") == "layer"
    )


def save_tiny(path, kind: str) -> str:
    tiny_model(kind).save_pretrained(path)
    feature_extractor(kind).save_pretrained(path)
    return str(path)


def wav(seconds: float, seed: int, scale: float | None = None) -> np.ndarray:
    """Noise with a DC offset and a loudness of its own, so per-utterance normalisation matters."""
    rng = np.random.default_rng(seed)
    scale = scale if scale is not None else float(rng.uniform(0.01, 0.5))
    return (rng.normal(0.02, scale, int(seconds * 16000))).astype(np.float32)


def alone(model: torch.nn.Module, fe, w: np.ndarray, layers: bool = True) -> torch.Tensor:
    """The reference: the plain Hugging Face forward of one utterance, pooled: (layers+1, D)."""
    x = torch.from_numpy(fe(w, sampling_rate=16000, return_tensors="np")["input_values"][0])[None]
    with torch.no_grad():
        out = model(x, output_hidden_states=True)
    hs = torch.stack(out.hidden_states)[:, 0] if layers else out.last_hidden_state
    return hs.mean(-2)
