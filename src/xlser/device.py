"""Device choice from config (`auto`/`cpu`/`cuda`) in one place."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when available; `cuda` without a GPU is an error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device is 'cuda' but no CUDA device is visible (set device: auto or cpu)")
    return torch.device(name)
