"""Layer-wise utterance features: one forward pass per utterance yields every hidden state.

Every hidden state (0 = transformer input, i = output of layer i) is mean-pooled over the
utterance's VALID frames only, so padding in a batch does not change an utterance's
features. Valid frame counts come from the model's own CNN arithmetic
(`_get_feat_extract_output_lengths`), which holds whether or not a mask is passed.

Checkpoints whose feature extractor says `return_attention_mask=False` (the wav2vec2-base
family with a group-norm CNN, e.g. the study's three W2V2 models) must not get a mask, and
zero padding would then shift the group-norm statistics; those run one utterance per
forward pass (as the study did). data2vec-audio is run the same way even though it takes a
mask: its positional embedding is a STACK of convolutions, so padded frames (zeroed only
before the first one) leak into valid frames near the end (measured: up to ~5% of a pooled
value). Others are batched by length under a seconds budget.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .audio import load_audio
from .batching import length_buckets
from .device import resolve_device
from .io import atomic_path
from .models import load_encoder, load_feature_extractor

log = logging.getLogger(__name__)


def masked_mean(hidden: torch.Tensor, frame_lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the first `frame_lengths[b]` frames: (layers, B, T, D) -> (B, layers, D)."""
    t = hidden.shape[2]
    mask = (torch.arange(t, device=hidden.device)[None, :] < frame_lengths[:, None]).to(hidden.dtype)  # (B, T)
    summed = torch.einsum("lbtd,bt->bld", hidden, mask)
    return summed / frame_lengths.clamp(min=1).to(hidden.dtype)[:, None, None]


#: model types whose output at valid frames depends on padding even with an attention mask
PAD_SENSITIVE = {"data2vec-audio"}


def uses_attention_mask(feature_extractor: Any) -> bool:
    return bool(getattr(feature_extractor, "return_attention_mask", True))


def can_batch(model: torch.nn.Module, feature_extractor: Any) -> bool:
    """Whether padded batches give every utterance exactly its unpadded features."""
    return uses_attention_mask(feature_extractor) and model.config.model_type not in PAD_SENSITIVE


@torch.inference_mode()
def encode_batch(model: torch.nn.Module, feature_extractor: Any, wavs: list[np.ndarray],
                 device: torch.device) -> torch.Tensor:
    """Pooled hidden states of a batch of 16 kHz waveforms: (B, layers+1, D) float32."""
    with_mask = uses_attention_mask(feature_extractor)
    inputs = feature_extractor(wavs, sampling_rate=feature_extractor.sampling_rate, padding=True,
                               return_attention_mask=with_mask, return_tensors="pt")
    values = inputs["input_values"].to(device)
    lengths = torch.tensor([len(w) for w in wavs], device=device)
    kwargs = {"attention_mask": inputs["attention_mask"].to(device)} if with_mask else {}
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else contextlib.nullcontext())
    with autocast:
        out = model(values, output_hidden_states=True, **kwargs)
    hidden = torch.stack([h.float() for h in out.hidden_states])  # (L+1, B, T, D)
    frames = model._get_feat_extract_output_lengths(lengths).to(torch.long)
    return masked_mean(hidden, frames)


def extract_features(manifest: pd.DataFrame, source: str, device: str = "auto",
                     max_batch_seconds: float = 120.0) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Features of every utterance of a manifest: (utt_ids, X float16 (n, layers+1, dim), meta)."""
    dev = resolve_device(device)
    model = load_encoder(source, dev)
    fe = load_feature_extractor(source)
    sr = int(fe.sampling_rate)
    batched = can_batch(model, fe)
    if not uses_attention_mask(fe):
        log.info("%s: feature extractor takes no attention mask (group-norm CNN): one utterance per pass", source)
    elif not batched:
        log.info("%s: %s is not padding-invariant: one utterance per pass", source, model.config.model_type)
    else:
        log.info("%s: batched by length with attention masks (<= %.0f padded s per batch)", source,
                 max_batch_seconds)
    durations = manifest["duration_s"].to_numpy(dtype=float)
    batches = length_buckets(durations, max_batch_seconds, max_items=None if batched else 1)
    n_layers = model.config.num_hidden_layers + 1
    X = np.zeros((len(manifest), n_layers, model.config.hidden_size), dtype=np.float16)
    paths = manifest["path"].tolist()
    with tqdm(total=len(paths), desc=f"extract {Path(source).name}", unit="utt", mininterval=2.0) as bar:
        for batch in batches:
            wavs = [load_audio(paths[i], target_sr=sr)[0] for i in batch]
            X[batch] = encode_batch(model, fe, wavs, dev).cpu().numpy().astype(np.float16)
            bar.update(len(batch))
    meta = {"model": source, "layers": n_layers - 1, "dim": model.config.hidden_size,
            "model_type": model.config.model_type}
    return manifest["utt_id"].to_numpy(dtype=str), X, meta


def save_features(path: str | Path, utt_ids: np.ndarray, X: np.ndarray, meta: dict[str, Any]) -> None:
    """`utt_id`, `X` (float16), `model`, `layers` in one .npz, written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, utt_id=utt_ids, X=X.astype(np.float16), model=np.array(meta["model"]),
                     layers=np.array(meta["layers"]))


def load_features(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(utt_ids, X, meta) of a features file."""
    with np.load(path, allow_pickle=False) as z:
        return z["utt_id"].astype(str), z["X"], {"model": str(z["model"]), "layers": int(z["layers"])}
