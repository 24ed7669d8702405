"""Layer-wise utterance features: one forward pass per batch yields every hidden state.

Every hidden state (0 = transformer input, i = output of layer i) is mean-pooled over the
utterance's VALID frames only. Batches go through `xlser.models.encoder`, which gives every
utterance exactly its numbers alone (normalised on its own samples, group-norm CNN over its
own frames, transformer with the frame mask) for wav2vec2 of either CNN, HuBERT, WavLM and
any model its self-check accepts; the others (data2vec-audio) run one utterance per pass,
as the log says. Batches are length-bucketed under a padded-seconds budget.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from xlser.data.audio import load_audio
from xlser.device import resolve_device
from xlser.errors import require_finite
from xlser.io import atomic_path
from xlser.models import encoder
from xlser.models.batching import length_buckets
from xlser.models.encoder import PAD_SENSITIVE, masked_mean  # noqa: F401  (re-exported: part of this module's API)
from xlser.models.loading import load_encoder, load_feature_extractor

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
BATCHINGS = ("auto", "exact", "single")
DTYPES = ("float16", "float32")


def one_per_pass(batching: str, device: torch.device, mode: str) -> bool:
    """Whether extraction feeds one utterance per forward pass.

    `single`: always; `exact`: only where exact batches are impossible (`mode` unbatched);
    `auto`: single on CPU, where batches measured slower (padding and masking cost more than
    the batch saves on a few cores: 9.3x vs 12.8x real time on 2 cores, docs/development.md), exact
    batches elsewhere. Both give every utterance its numbers alone (to float rounding)."""
    if batching not in BATCHINGS:
        raise ValueError(f"features.batching: '{batching}' is not one of {BATCHINGS}")
    return mode == "unbatched" or batching == "single" or (batching == "auto" and device.type == "cpu")


def autocast(device: torch.device, precision: str = "fp32") -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked; fp32 (no autocast) otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}': expected one of {PRECISIONS}")
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.inference_mode()
def encode_batch(
    model: torch.nn.Module,
    feature_extractor: Any,
    wavs: list[np.ndarray],
    device: torch.device,
    precision: str = "fp32",
    top_layer_norm: bool = False,
) -> torch.Tensor:
    """Pooled hidden states of a batch of 16 kHz waveforms: (B, layers+1, D) float32, each as if alone.

    `top_layer_norm`: the top layer after a stable-layer-norm model's final LayerNorm
    (transformers 4's numbering; see `xlser.models.encoder`)."""
    values, lengths = encoder.prepare(feature_extractor, wavs)
    with autocast(device, precision):
        return encoder.pooled(
            model, values.to(device), lengths.to(device), all_layers=True, top_layer_norm=top_layer_norm
        )


def extract_features(
    manifest: pd.DataFrame,
    source: str,
    device: str = "auto",
    max_batch_seconds: float = 120.0,
    precision: str = "fp32",
    top_layer_norm: bool = False,
    batching: str = "auto",
    dtype: str = "float16",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Features of every utterance of a manifest: (utt_ids, X (n, layers+1, dim) of `dtype`, meta).

    `precision`: `fp32` (exact, the study's) or `bf16` (autocast, CUDA only); `batching`: see
    `one_per_pass`; `dtype`: `float16` (half the storage) or `float32` (the study's)."""
    if dtype not in DTYPES:
        raise ValueError(f"features.dtype: '{dtype}' is not one of {DTYPES}")
    dev = resolve_device(device)
    model = load_encoder(source, dev)
    fe = load_feature_extractor(source)
    sr = int(fe.sampling_rate)
    mode = encoder.batch_mode(model)
    single = one_per_pass(batching, dev, mode)
    if mode == "unbatched":
        log.info("%s: one utterance per forward pass (%s batches would not be exact)", source, model.config.model_type)
    elif single:
        log.info("%s: one utterance per forward pass (features.batching: %s, %s)", source, batching, dev.type)
    else:
        log.info(
            "%s: exact batches (%s), length-bucketed, <= %.0f padded s per batch, %s",
            source,
            mode,
            max_batch_seconds,
            precision if dev.type == "cuda" else "fp32",
        )
    durations = manifest["duration_s"].to_numpy(dtype=float)
    batches = length_buckets(durations, max_batch_seconds, max_items=1 if single else None)
    n_layers = model.config.num_hidden_layers + 1
    X = np.zeros((len(manifest), n_layers, model.config.hidden_size), dtype=np.dtype(dtype))
    paths = manifest["path"].tolist()

    def read(batch: list[int]) -> list[np.ndarray]:
        return [load_audio(paths[i], target_sr=sr)[0] for i in batch]

    # audio of the next batches is read in a thread while the encoder runs (soundfile releases the GIL)
    with (
        ThreadPoolExecutor(max_workers=2) as pool,
        tqdm(total=len(paths), desc=f"extract {Path(source).name}", unit="utt", mininterval=2.0) as bar,
    ):
        pending = [pool.submit(read, b) for b in batches[:2]]
        for k, batch in enumerate(batches):
            wavs = pending[k].result()
            if k + 2 < len(batches):
                pending.append(pool.submit(read, batches[k + 2]))
            pending[k] = None
            out = encode_batch(model, fe, wavs, dev, precision, top_layer_norm).cpu().numpy()
            X[batch] = finite_features(out, [manifest.iloc[i] for i in batch], source, X.dtype)
            bar.update(len(batch))
    meta = {
        "model": source,
        "layers": n_layers - 1,
        "dim": model.config.hidden_size,
        "model_type": model.config.model_type,
        "batch_mode": mode,
        "one_per_pass": single,
    }
    return manifest["utt_id"].to_numpy(dtype=str), X, meta


def finite_features(
    out: np.ndarray, rows: list[pd.Series], source: str, dtype: np.dtype | str = np.float16
) -> np.ndarray:
    """`out` (B, layers+1, D) as stored (`dtype`: features.dtype), after checking every utterance's features
    are finite before and after the cast: a NaN (or a value past float16's 65504) would make
    every probe trained on it score chance level without an error; the error names the
    utterance and its file."""
    with np.errstate(over="ignore"):  # an overflow becomes inf, reported below
        half = out.astype(dtype)
    for j, r in enumerate(rows):
        what = f"features of utterance '{r['utt_id']}' from {source}"
        require_finite(out[j], r["path"], what, "check the audio, or extract with features.precision: fp32")
        require_finite(
            half[j],
            r["path"],
            f"{what} exceed float16's range (|x| > 65504) as stored",
            "this encoder's activations cannot be stored as float16 features",
        )
    return half


def save_features(path: str | Path, utt_ids: np.ndarray, X: np.ndarray, meta: dict[str, Any]) -> None:
    """`utt_id`, `X` (float16 or float32, as given), `model`, `layers` in one .npz, written atomically."""
    if X.dtype.name not in DTYPES:
        raise ValueError(f"features to save are {X.dtype}, expected one of {DTYPES}")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, utt_id=utt_ids, X=X, model=np.array(meta["model"]), layers=np.array(meta["layers"]))


def load_features(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(utt_ids, X, meta) of a features file."""
    with np.load(path, allow_pickle=False) as z:
        return z["utt_id"].astype(str), z["X"], {"model": str(z["model"]), "layers": int(z["layers"])}
