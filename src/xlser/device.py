"""Device choice from config (`auto`/`cpu`/`cuda`) and the thread count jobs compute with,
in one place."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch

log = logging.getLogger(__name__)


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


def compute_threads(device: torch.device, torch_threads: int, job_threads: int | None = None) -> int:
    """The torch threads a job computes with: on CPU the config's `torch_threads`, whatever the
    job holds (its results must not depend on the CPUs it got); on CUDA every CPU the job holds,
    `job_threads` (CPU threads change no CUDA result, and the host side runs faster).

    A CPU job that holds more CPUs than it computes with is told so in its log: the rule's
    threads (`gpu_job_threads`, a profile's `set-threads`) should then equal `torch_threads`.
    """
    if device.type == "cuda" and job_threads:
        return max(1, int(job_threads))
    if job_threads and job_threads > torch_threads:
        log.warning(
            "this job holds %d CPUs but computes on %s with torch_threads = %d (results must not depend on the "
            "CPUs a job holds): give it %d (config gpu_job_threads, or the profile's set-threads) or raise "
            "torch_threads",
            job_threads,
            device.type,
            torch_threads,
            torch_threads,
        )
    return int(torch_threads)
