"""Classification heads shared by the layer-wise probes and fine-tuning.

`linear` is what the study's text describes (dim -> n_classes); `mlp` is what its code
does (dim -> 128 -> ReLU -> 16 -> ReLU -> n_classes).
"""

from __future__ import annotations

from torch import nn

HEADS = ("linear", "mlp")


def make_head(kind: str, dim: int, n_classes: int) -> nn.Module:
    """A fresh head of the configured kind."""
    if kind == "linear":
        return nn.Linear(dim, n_classes)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, 16), nn.ReLU(), nn.Linear(16, n_classes))
    raise ValueError(f"unknown head '{kind}': expected one of {HEADS}")
