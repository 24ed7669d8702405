"""The settings of one fine-tuning job, typed and immutable (no torch: rules import this).

`xlser.config.Optim` holds the optimiser's; `Finetune` the fine-tuning-only choices; `Lora`
and `Adapter` the PEFT modules' sizes. None of them has defaults: those live in the config
schema. `job_settings` cuts one job's share out of the (schema-defaulted) `peft` section,
so a job's params and resume fingerprint see only what it uses: the two-stage schedule only
in two_stage jobs, the validation corpus only where train and test differ, LoRA sizes only
for LoRA strategies, the adapter's only for lora+ba+wg and two_stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

STRATEGIES = ("frozen", "lora", "lora+ba+wg", "two_stage")
LAYERS_KEPT = ("k", "k+1")
ENCODER_MODES = ("eval", "train")
PRECISIONS = ("fp32", "bf16")
SCHEDULES = ("stagewise", "study")
VAL_ON = ("source", "target")


def uses_lora(strategy: str) -> bool:
    return strategy != "frozen"


def uses_adapters(strategy: str) -> bool:
    """Bottleneck adapters and input gates (two_stage trains the LoRA+BA+WG model)."""
    return strategy in ("lora+ba+wg", "two_stage")


@dataclass(frozen=True)
class Lora:
    """LoRA's rank, scaling numerator (alpha) and dropout: `peft.lora`."""

    r: int
    alpha: float
    dropout: float


@dataclass(frozen=True)
class Adapter:
    """The bottleneck adapter's reduction factor: `peft.adapter`."""

    reduction: int


@dataclass(frozen=True)
class Finetune:
    """The fine-tuning-only settings of one job.

    grad_clip: gradient-norm clipping, None = off (the study). max_batch_seconds: padded
    audio seconds per batch. cache_features: frozen CNN features computed once. precision:
    `fp32` or `bf16` (autocast on CUDA; fp32 on CPU). encoder_mode: `eval` or `train` (the
    checkpoint's dropout, LayerDrop, time masking). layers_kept: `k` or `k+1`.
    two_stage_schedule: `stagewise` or `study`, only for two_stage jobs (else None).
    cross_val_on: `source` or `target`, only where train and test corpora differ (else None).
    threads: torch's thread count (results depend on it; not `--cores`).
    standardize: the head sees pooled features standardised with the training partition's
    statistics (computed once, before training, with the initial model; saved with the adapter).
    clip_normalised_waveform: the normalised input waveform clipped to +-1 (the study's 16-bit
    PCM storage of it), for every utterance the job scores, stimuli included.
    """

    grad_clip: float | None
    max_batch_seconds: float
    cache_features: bool
    precision: str
    encoder_mode: str
    layers_kept: str
    two_stage_schedule: str | None
    cross_val_on: str | None
    threads: int
    standardize: bool
    clip_normalised_waveform: bool

    def __post_init__(self) -> None:
        for name, value, allowed in (("precision", self.precision, PRECISIONS),
                                     ("encoder_mode", self.encoder_mode, ENCODER_MODES),
                                     ("layers_kept", self.layers_kept, LAYERS_KEPT),
                                     ("two_stage_schedule", self.two_stage_schedule, (None, *SCHEDULES)),
                                     ("cross_val_on", self.cross_val_on, (None, *VAL_ON))):
            if value not in allowed:
                raise ValueError(f"Finetune.{name} = {value!r}: expected one of {list(allowed)}")
        if self.threads < 1:
            raise ValueError(f"Finetune.threads = {self.threads}: expected at least 1")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"Finetune.grad_clip = {self.grad_clip}: expected a positive number or None")


def job_settings(peft: Mapping[str, Any], *, strategy: str, train: str, test: str, cross_val_on: str,
                 threads: int) -> tuple[Finetune, Lora | None, Adapter | None]:
    """One job's settings from the schema-defaulted `peft` section, `splits.cross_val_on` and
    `torch_threads`; what the job does not use is None."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown PEFT strategy '{strategy}': expected one of {STRATEGIES}")
    clip = peft["grad_clip"]
    ft = Finetune(grad_clip=None if clip is None else float(clip),
                  max_batch_seconds=float(peft["max_batch_seconds"]), cache_features=bool(peft["cache_features"]),
                  precision=str(peft["precision"]), encoder_mode=str(peft["encoder_mode"]),
                  layers_kept=str(peft["layers_kept"]),
                  two_stage_schedule=str(peft["two_stage"]["schedule"]) if strategy == "two_stage" else None,
                  cross_val_on=str(cross_val_on) if train != test else None, threads=int(threads),
                  standardize=bool(peft["standardize"]),
                  clip_normalised_waveform=bool(peft["clip_normalised_waveform"]))
    lo = peft["lora"]
    lora = Lora(r=int(lo["r"]), alpha=float(lo["alpha"]), dropout=float(lo["dropout"])) if uses_lora(strategy) else None
    adapter = Adapter(reduction=int(peft["adapter"]["reduction"])) if uses_adapters(strategy) else None
    return ft, lora, adapter


def as_params(value: Any) -> dict[str, Any] | None:
    """A settings dataclass as a Snakemake param (a dict with sorted keys), None as None."""
    return None if value is None else dict(sorted(asdict(value).items()))
