"""Audio I/O with soundfile (torchaudio.load needs torchcodec) and resampling with torchaudio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from xlser.errors import InputError
from xlser.data.wavheader import check_not_truncated


def load_audio(path: str | Path, target_sr: int | None = None) -> tuple[np.ndarray, int]:
    """Read any soundfile-readable file as mono float32; resample to `target_sr` if given."""
    path = Path(path)
    check_not_truncated(path)
    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise InputError(path, f"unreadable audio ({exc})") from None
    if wav.shape[0] == 0:
        raise InputError(path, "empty audio (0 samples)")
    mono = wav.mean(axis=1)
    if target_sr is not None and sr != target_sr:
        mono = resample(mono, sr, target_sr)
        sr = target_sr
    return mono, sr


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed-sinc), float32 in and out."""
    if orig_sr == target_sr:
        return wav.astype(np.float32, copy=False)
    out = AF.resample(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)), orig_sr, target_sr)
    return out.numpy()


def save_audio(path: str | Path, wav: np.ndarray, sr: int, subtype: str = "FLOAT") -> None:
    """Write a wav file (32-bit float by default)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav, sr, subtype=subtype)
