"""The fine-tuning job's settings as the peft package reads them, and its chosen layer.

The settings themselves (`Finetune`, `Lora`, `Adapter`, `Layer`, `job_settings`, ...) are
shared with the config and the rules and live in `xlser.finetuning`; they are re-exported
here for the stage's modules. `best_layer` reads the layer-wise stage's choice of k.
"""

from __future__ import annotations

from pathlib import Path

from xlser.errors import InputError
from xlser.finetuning import (
    ADAPTABLE_COLUMN,
    ADAPTING_LAYER,
    BEST_COLUMN,
    ENCODER_MODES,
    LAYER_FROM,
    LAYERS_KEPT,
    NO_PEFT,
    PRECISIONS,
    SCHEDULES,
    STRATEGIES,
    VAL_ON,
    Adapter,
    Finetune,
    Layer,
    Lora,
    as_params,
    check_plan,
    job_layer,
    job_settings,
    nothing_to_adapt,
    uses_adapters,
    uses_lora,
)

__all__ = [
    "ADAPTABLE_COLUMN",
    "ADAPTING_LAYER",
    "BEST_COLUMN",
    "ENCODER_MODES",
    "LAYERS_KEPT",
    "LAYER_FROM",
    "NO_PEFT",
    "PRECISIONS",
    "SCHEDULES",
    "STRATEGIES",
    "VAL_ON",
    "Adapter",
    "Finetune",
    "Layer",
    "Lora",
    "as_params",
    "best_layer",
    "check_plan",
    "job_layer",
    "job_settings",
    "nothing_to_adapt",
    "uses_adapters",
    "uses_lora",
]


def best_layer(
    path: str | Path, model: str, train: str, test: str, setting: str | None = None, column: str = BEST_COLUMN
) -> int:
    """Layer k of this experiment from best_layers.csv (chosen there by validation UA): `column`
    `layer`, the best of all, or `layer_ge1`, the best layer >= 1 (`Layer.column`)."""
    import pandas as pd

    if not Path(path).is_file():
        raise InputError(path, "file not found: run the layer-wise stage first")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = {"model", "train", "test", "layer"}
    if not need <= set(df.columns):
        raise InputError(path, f"expected columns {sorted(need)}", line=1)
    if column not in df.columns:
        raise InputError(
            path,
            f"no column {column} (the best layer >= 1, read by strategies that adapt transformer layers): "
            "written by an earlier xlser; re-run the layer-wise summary (snakemake -R layerwise_summary)",
            line=1,
        )
    hit = df[(df["model"] == model) & (df["train"] == train) & (df["test"] == test)]
    if setting is not None and "setting" in hit and len(hit) > 1:
        hit = hit[hit["setting"] == setting]
    if hit.empty:
        raise InputError(
            path, f"no row for model={model}, train={train}, test={test}: run the layer-wise stage for this experiment"
        )
    value, line = hit[column].iloc[0], int(hit.index[0]) + 2
    if value == "" and column == ADAPTABLE_COLUMN:
        raise InputError(path, f"{model} {train} -> {test} has no layer >= 1 to adapt (column {column})", line=line)
    try:
        return int(float(value))
    except ValueError:
        raise InputError(path, f"{column} '{value}' is not an integer", line=line) from None
