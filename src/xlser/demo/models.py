"""Tiny speech encoders of the real Hugging Face classes, saved like the study's checkpoints.

`Wav2Vec2Model` (for W2V2-CN/-DE/-EN) and `WavLMModel` (the SED encoder) with random weights,
written with `save_pretrained` next to a feature-extractor config, then loaded everywhere
with `from_pretrained`, exactly as a hub checkpoint is. The CNN keeps the real total stride
(320 samples = 20 ms frames at 16 kHz) with fewer, narrower layers. They use the layer-norm
CNN variant, whose feature extractor takes an attention mask, so padded batches are exact;
`feat_extract_norm: group` gives the wav2vec2-base style instead (no mask), whose CNN keeps
the relative loudness of frames within an utterance, which frame-level SED needs.

A fully random tiny model pools emotion away (a linear probe on its features reaches about
0.4 UA on DEMO-CN, chance 0.25), so the first CNN layer starts as a bank of 25 ms windowed
cosine filters, log-spaced from 70 Hz to 5 kHz: the features then carry pitch and spectral
shape, as a trained model's lower layers do (about 0.5 UA). Everything else stays random.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model, WavLMConfig, WavLMModel

CLASSES = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model), "wavlm": (WavLMConfig, WavLMModel)}


def tiny_config(spec: dict[str, Any]) -> Any:
    """The model config of a demo spec (`type`, `hidden_size`, `num_hidden_layers`, ...)."""
    kind = spec["type"]
    if kind not in CLASSES:
        raise ValueError(f"demo model type '{kind}': expected one of {sorted(CLASSES)}")
    cfg_cls, _ = CLASSES[kind]
    conv = int(spec["conv_dim"])
    return cfg_cls(
        hidden_size=int(spec["hidden_size"]),
        num_hidden_layers=int(spec["num_hidden_layers"]),
        num_attention_heads=int(spec["num_attention_heads"]),
        intermediate_size=int(spec["intermediate_size"]),
        conv_dim=(conv, conv, conv, conv),
        conv_kernel=(400, 8, 4, 4),
        conv_bias=False,
        conv_stride=(5, 4, 4, 4),  # 320 samples per frame, as the real models
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm=spec["feat_extract_norm"],
        do_stable_layer_norm=spec["feat_extract_norm"] == "layer",
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
        mask_time_prob=0.0,
        num_buckets=32,
        max_bucket_distance=200,  # WavLM relative positions
        initializer_range=float(spec["initializer_range"]),
    )


def filterbank(n: int, kernel: int, sample_rate: int = 16000, fmin: float = 70.0, fmax: float = 5000.0) -> torch.Tensor:
    """`n` Hann-windowed cosines at log-spaced frequencies: (n, 1, kernel) conv weights."""
    t = (torch.arange(kernel, dtype=torch.float64) - kernel / 2) / sample_rate
    freqs = torch.logspace(math.log10(fmin), math.log10(fmax), n, dtype=torch.float64)
    bank = torch.cos(2 * math.pi * freqs[:, None] * t[None, :]) * torch.hann_window(kernel, dtype=torch.float64)
    return (3.0 * bank / math.sqrt(kernel)).float()[:, None, :]


def build_demo_model(out_dir: str | Path, spec: dict[str, Any]) -> Path:
    """Write a tiny random-init model + feature extractor to `out_dir` (atomically)."""
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    torch.manual_seed(int(spec["seed"]))
    cfg = tiny_config(spec)
    _, model_cls = CLASSES[spec["type"]]
    model = model_cls(cfg).eval()
    conv0 = model.feature_extractor.conv_layers[0].conv
    with torch.no_grad():
        conv0.weight.copy_(filterbank(conv0.out_channels, conv0.kernel_size[0]))
    try:
        model.save_pretrained(tmp)
        # group-norm CNNs (the wav2vec2-base family) take no attention mask, as on the hub
        Wav2Vec2FeatureExtractor(
            feature_size=1,
            sampling_rate=16000,
            padding_value=0.0,
            do_normalize=True,
            return_attention_mask=cfg.feat_extract_norm == "layer",
        ).save_pretrained(tmp)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
