"""Device choice from config (`auto`/`cpu`/`cuda`) and the thread count training computes
with, in one place."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when available; `cuda` without a GPU is an error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device is 'cuda' but no CUDA device is visible (set device: auto or cpu)")
    return torch.device(name)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Compute with `n` intra-op torch threads inside the block, restored afterwards.

    Training jobs take `n` from the config (`torch_threads`), not from the job's cores:
    a CPU reduction split over a different number of threads sums in a different order,
    and over hundreds of optimiser steps those last-bit differences grow into different
    models, so `--cores 1` and `--cores 8` would give different numbers for one seed.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"torch_threads must be >= 1, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)
