"""Checks on audio content that need neither torch nor a model (the corpus scan runs them):
samples that are not finite, and clips shorter than the encoders' receptive field.

A NaN or inf sample (a float WAV can hold them) makes every feature of its utterance NaN and
every score trained on it chance level, without an error; a clip shorter than one frame of
the convolutional feature encoder fails only in extraction, far from its file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xlser.errors import InputError

ENCODER_SR = 16000
#: (kernel sizes, strides) of the convolutional feature encoder shared by wav2vec2, XLS-R,
#: HuBERT and WavLM (transformers' config defaults; a test checks they still are)
WAV2VEC2_CONV: tuple[tuple[int, ...], tuple[int, ...]] = ((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))


def receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Input samples one output frame of a stack of 1-d convolutions sees: every layer widens
    it by (kernel - 1) times the product of the strides below it. An input shorter than this
    gives the encoder no frame at all (`Kernel size can't be greater than actual input size`)."""
    field, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        field += (k - 1) * jump
        jump *= s
    return field


#: the shortest clip (samples at 16 kHz) the encoders accept: 400 = 25 ms
MIN_SAMPLES = receptive_field(*WAV2VEC2_CONV)


def check_min_length(path: str | Path, n_samples: int, sr: int) -> None:
    """Raise an InputError naming `path` if `n_samples` at `sr` are fewer than `MIN_SAMPLES`
    at 16 kHz, the encoders' receptive field."""
    if n_samples * ENCODER_SR < MIN_SAMPLES * sr:
        raise InputError(
            path,
            f"clip of {1000 * n_samples / sr:.1f} ms ({n_samples} samples at {sr} Hz) is shorter "
            f"than the encoders' receptive field ({MIN_SAMPLES} samples = "
            f"{1000 * MIN_SAMPLES / ENCODER_SR:.1f} ms at {ENCODER_SR // 1000} kHz): no feature frame "
            f"can be computed from it; remove it from the corpus (or its label line)",
        )


def check_finite_audio(path: str | Path, wav: np.ndarray, sr: int) -> None:
    """Raise an InputError naming `path` if any sample is NaN or inf."""
    bad = ~np.isfinite(wav)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(len(wav), -1).any(axis=1))[0])
        raise InputError(
            path,
            f"{int(bad.sum())} of {wav.size} samples are NaN or inf (the first at sample {first}, "
            f"{first / sr:.3f} s): a damaged float WAV; re-export it from its source or remove it "
            f"from the corpus",
        )


#: samples that differ by at most one 16-bit step are one value: a file holding only that is silence
DC_TOLERANCE = 2.0**-15
DC_BLOCK = 65536  # frames read at a time; a recording with any signal is told apart in its first block


def constant_value(path: str | Path) -> float | None:
    """The one value every sample of the file holds (0.0 for digital silence, another for a
    DC-only recording), or None when it holds a signal. Reads block by block and stops at the
    first block that varies, so a recording costs one block, however long."""
    import soundfile as sf

    lo, hi = np.inf, -np.inf
    for block in sf.blocks(str(path), blocksize=DC_BLOCK, dtype="float32", always_2d=True):
        if block.size == 0:
            continue
        if not np.isfinite(block).all():
            return None  # damaged, not silent: `check_finite_audio` names it when the audio is read
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
        if hi - lo > DC_TOLERANCE:
            return None
    return None if lo > hi else (lo + hi) / 2
