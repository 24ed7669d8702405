"""Audio I/O with soundfile (torchaudio.load needs torchcodec) and resampling with torchaudio.

Every read checks for NaN/inf samples (`xlser.data.audiocheck`), which would otherwise pass
silently into features; every write reports a failure with the system's reason.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from xlser.data.audiocheck import check_finite_audio
from xlser.data.wavheader import check_not_truncated
from xlser.errors import InputError


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
    check_finite_audio(path, wav, sr)
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
    """Write a wav file (32-bit float by default).

    Encoded in memory and written with Python's own file I/O, so a failed write (full disk,
    quota, read-only folder) raises `OSError` with the system's reason (libsndfile writing
    itself says only `System error.`). The same samples give the same bytes in every run
    (`_clear_peak_time`)."""
    path = Path(path)
    buf = io.BytesIO()
    sf.write(buf, wav, sr, subtype=subtype, format="WAV")
    data = _clear_peak_time(bytearray(buf.getbuffer()))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def _clear_peak_time(data: bytearray) -> bytearray:
    """libsndfile gives float WAVs a `PEAK` chunk (version, time stamp, each channel's peak and
    its position) stamped with the time of writing: the same audio written twice differed in
    two bytes. The stamp (seconds since 1970, informational) is set to 0; the peaks stay."""
    at = data.find(b"PEAK", 12, 4096)
    if at >= 0 and len(data) >= at + 16:
        data[at + 12 : at + 16] = bytes(4)
    return data
