"""Audio I/O with soundfile (torchaudio.load needs torchcodec) and resampling with torchaudio.

Every read checks for NaN/inf samples (`xlser.data.audiocheck`), which would otherwise pass
silently into features; every write reports a failure with the system's reason.
"""

from __future__ import annotations

import errno
import io
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from xlser.errors import InputError
from xlser.data.audiocheck import check_finite_audio
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
    itself says only `System error.`)."""
    path = Path(path)
    buf = io.BytesIO()
    sf.write(buf, wav, sr, subtype=subtype, format="WAV")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(buf.getbuffer())


_WRITE_HINTS = {errno.ENOSPC: "free disk space", errno.EDQUOT: "raise the disk quota",
                errno.EFBIG: "raise the file-size limit (ulimit -f)", errno.EROFS: "make the results folder writable",
                errno.EACCES: "make the results folder writable"}


def write_failure(path: str | Path, exc: OSError, what: str) -> str:
    """`writing <what> failed (<reason>); <free space> ...`: the message of an OSError while
    writing an output, with the free space of the folder it was written to."""
    reason = exc.strerror or str(exc)
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free on {folder}"
    except OSError:
        free = f"free space of {folder} unknown"
    hint = _WRITE_HINTS.get(exc.errno or 0, "check the results folder")
    return f"writing {what} failed ({reason}); {free}; {hint}, then re-run"
