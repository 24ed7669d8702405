"""Tiny speech encoders of the real Hugging Face classes, saved like the study's checkpoints.

`Wav2Vec2Model` (for W2V2-CN/-DE/-EN) and `WavLMModel` (the SED encoder) with random weights,
written with `save_pretrained` next to a feature-extractor config, then loaded everywhere
with `from_pretrained`, exactly as a hub checkpoint is. The CNN keeps the real total stride
(320 samples = 20 ms frames at 16 kHz) with fewer, narrower layers. They use the layer-norm
CNN variant, whose feature extractor takes an attention mask, so padded batches are exact.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model, WavLMConfig, WavLMModel

CLASSES = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model), "wavlm": (WavLMConfig, WavLMModel)}


def tiny_config(spec: dict[str, Any]) -> Any:
    """The model config of a demo spec (`type`, `hidden_size`, `num_hidden_layers`, ...)."""
    kind = spec.get("type", "wav2vec2")
    if kind not in CLASSES:
        raise ValueError(f"demo model type '{kind}': expected one of {sorted(CLASSES)}")
    cfg_cls, _ = CLASSES[kind]
    conv = int(spec.get("conv_dim", 32))
    return cfg_cls(
        hidden_size=int(spec.get("hidden_size", 48)),
        num_hidden_layers=int(spec.get("num_hidden_layers", 4)),
        num_attention_heads=int(spec.get("num_attention_heads", 4)),
        intermediate_size=int(spec.get("intermediate_size", 96)),
        conv_dim=(conv, conv, conv, conv),
        conv_kernel=(10, 8, 4, 4),
        conv_stride=(5, 4, 4, 4),  # 320 samples per frame, as the real models
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        layerdrop=0.0, mask_time_prob=0.0,
        num_buckets=32, max_bucket_distance=200,  # WavLM relative positions
    )


def build_demo_model(out_dir: str | Path, spec: dict[str, Any]) -> Path:
    """Write a tiny random-init model + feature extractor to `out_dir` (atomically)."""
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    torch.manual_seed(int(spec.get("seed", 0)))
    cfg = tiny_config(spec)
    _, model_cls = CLASSES[spec.get("type", "wav2vec2")]
    model = model_cls(cfg).eval()
    try:
        model.save_pretrained(tmp)
        Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                 return_attention_mask=True).save_pretrained(tmp)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
