"""The settings of one fine-tuning job, typed and immutable: shared, no torch.

The config resolves them (`check_plan`, from xlser.config.resolve), the rules pass them to
the job as params and xlser.peft runs with them, so they live beside the config, not in the
stage package (which re-exports them from xlser.peft.settings).

`xlser.sections.Optim` holds the optimiser's; `Finetune` the fine-tuning-only choices; `Lora`
and `Adapter` the PEFT modules' sizes. None of them has defaults: those live in the config
schema. `job_settings` cuts one job's share out of the (schema-defaulted) `peft` section,
so a job's params and resume fingerprint see only what it uses: the two-stage schedule only
in two_stage jobs, the validation corpus only where train and test differ, LoRA sizes only
for LoRA strategies, the adapter's only for lora+ba+wg and two_stage. `job_layer` says
where a job's layer comes from (`Layer`: pinned in the config, or chosen by the layer-wise
stage), `check_plan` checks that every job has one when the config is resolved, and that no
strategy that adapts transformer layers runs where its cut keeps none (`nothing_to_adapt`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from xlser.errors import ConfigError

STRATEGIES = ("frozen", "lora", "lora+ba+wg", "two_stage")
LAYERS_KEPT = ("k", "k+1")
ENCODER_MODES = ("eval", "train")
PRECISIONS = ("fp32", "bf16")
SCHEDULES = ("stagewise", "study")
VAL_ON = ("source", "target")
LAYER_FROM = ("trans", "cross")
NO_PEFT = ("frozen", "probe")
ADAPTING_LAYER = ("adaptable", "best")
# best_layers.csv: the best layer of all (`frozen`, the probe column) and the best layer >= 1,
# the best whose cut keeps a transformer layer under `layers_kept: k` (`peft.adapting_layer`)
BEST_COLUMN = "layer"
ADAPTABLE_COLUMN = "layer_ge1"


def uses_lora(strategy: str) -> bool:
    """LoRA on the kept transformer layers: every strategy but `frozen`, i.e. every strategy
    that adapts transformer layers (and so needs at least one kept)."""
    return strategy != "frozen"


def nothing_to_adapt(strategy: str, k: int, layers_kept: str) -> bool:
    """True where a strategy that adapts transformer layers would keep none: layer k = 0 with
    `layers_kept: k` (the CNN's output, hidden state 0). LoRA, adapters and gates would then have
    nothing to wrap and the job would train the head alone, i.e. be `frozen` under another name.
    `k+1` keeps at least one layer at every k."""
    return uses_lora(strategy) and layers_kept == "k" and k == 0


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
        for name, value, allowed in (
            ("precision", self.precision, PRECISIONS),
            ("encoder_mode", self.encoder_mode, ENCODER_MODES),
            ("layers_kept", self.layers_kept, LAYERS_KEPT),
            ("two_stage_schedule", self.two_stage_schedule, (None, *SCHEDULES)),
            ("cross_val_on", self.cross_val_on, (None, *VAL_ON)),
        ):
            if value not in allowed:
                raise ValueError(f"Finetune.{name} = {value!r}: expected one of {list(allowed)}")
        if self.threads < 1:
            raise ValueError(f"Finetune.threads = {self.threads}: expected at least 1")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"Finetune.grad_clip = {self.grad_clip}: expected a positive number or None")


def job_settings(
    peft: Mapping[str, Any], *, strategy: str, train: str, test: str, cross_val_on: str, threads: int
) -> tuple[Finetune, Lora | None, Adapter | None]:
    """One job's settings from the schema-defaulted `peft` section, `splits.cross_val_on` and
    `torch_threads`; what the job does not use is None."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown PEFT strategy '{strategy}': expected one of {STRATEGIES}")
    clip = peft["grad_clip"]
    ft = Finetune(
        grad_clip=None if clip is None else float(clip),
        max_batch_seconds=float(peft["max_batch_seconds"]),
        cache_features=bool(peft["cache_features"]),
        precision=str(peft["precision"]),
        encoder_mode=str(peft["encoder_mode"]),
        layers_kept=str(peft["layers_kept"]),
        two_stage_schedule=str(peft["two_stage"]["schedule"]) if strategy == "two_stage" else None,
        cross_val_on=str(cross_val_on) if train != test else None,
        threads=int(threads),
        standardize=bool(peft["standardize"]),
        clip_normalised_waveform=bool(peft["clip_normalised_waveform"]),
    )
    lo = peft["lora"]
    lora = Lora(r=int(lo["r"]), alpha=float(lo["alpha"]), dropout=float(lo["dropout"])) if uses_lora(strategy) else None
    adapter = Adapter(reduction=int(peft["adapter"]["reduction"])) if uses_adapters(strategy) else None
    return ft, lora, adapter


@dataclass(frozen=True)
class Layer:
    """Where a job's layer k (hidden-state index) comes from.

    `pinned`: a config value (`layer:` on an item of `peft.experiments` or
    `peft.two_stage.experiments`), so a published study's layers can be reused and the job
    needs no layer-wise result. Otherwise `row`, the (model, train, test) experiment whose
    row of `best_layers.csv` (chosen there by validation UA) gives k, read from `column`:
    `layer` (the best of all) or `layer_ge1` (the best layer >= 1: `peft.adapting_layer:
    adaptable` for strategies that adapt transformer layers under `layers_kept: k`).
    Exactly one of pinned and row is set.
    """

    pinned: int | None = None
    row: tuple[str, str, str] | None = None
    column: str = BEST_COLUMN

    def __post_init__(self) -> None:
        if (self.pinned is None) == (self.row is None):
            raise ValueError(f"Layer: exactly one of pinned ({self.pinned}) and row ({self.row}) must be set")
        if self.pinned is not None and self.pinned < 0:
            raise ValueError(f"Layer.pinned = {self.pinned}: expected a hidden-state index >= 0")
        if self.column not in (BEST_COLUMN, ADAPTABLE_COLUMN):
            raise ValueError(f"Layer.column = {self.column!r}: expected {BEST_COLUMN!r} or {ADAPTABLE_COLUMN!r}")
        if self.pinned is not None and self.column != BEST_COLUMN:
            raise ValueError("Layer: a pinned layer is read from no best_layers.csv column")

    @property
    def source(self) -> str:
        """`pinned`, `chosen` or `chosen>=1` (recorded in metrics.json and Table I)."""
        if self.pinned is not None:
            return "pinned"
        return "chosen" if self.column == BEST_COLUMN else "chosen>=1"

    def as_param(self) -> dict[str, Any]:
        """The Snakemake param: only what the job computes with (a pinned job: its layer; a
        chosen one its row, and the column where it is not the best of all)."""
        if self.pinned is not None:
            return {"pinned": self.pinned}
        return {"row": list(self.row)} | ({"column": self.column} if self.column != BEST_COLUMN else {})

    @classmethod
    def from_param(cls, param: Mapping[str, Any]) -> Layer:
        if "pinned" in param:
            return cls(pinned=int(param["pinned"]))
        return cls(row=tuple(str(x) for x in param["row"]), column=str(param.get("column", BEST_COLUMN)))


def _pins(items: Any) -> dict[tuple[str, str, str], int]:
    """(model, train, test) -> pinned layer of the items of an experiment list that carry `layer:`."""
    if not isinstance(items, list):
        return {}
    return {(e["model"], e["train"], e["test"]): int(e["layer"]) for e in items if e.get("layer") is not None}


def _pinned(peft: Mapping[str, Any], k: int, where: str, strategy: str, job: tuple[str, str, str]) -> Layer:
    """A pinned layer, unless the strategy would have nothing to adapt there (a ConfigError naming the key)."""
    if nothing_to_adapt(strategy, k, peft["layers_kept"]):
        model, train, test = job
        raise ConfigError(
            f"config {where}: {strategy} {model} {train} -> {test} is pinned to layer {k}, where "
            f"peft.layers_kept: {peft['layers_kept']} keeps no transformer layer, so {strategy} would have "
            "nothing to adapt (it would train the head alone, as `frozen` does): pin a layer >= 1, set "
            f"peft.layers_kept: k+1, or leave {strategy} out of peft.strategies"
        )
    return Layer(pinned=k)


def job_layer(
    peft: Mapping[str, Any],
    *,
    model: str,
    train: str,
    test: str,
    strategy: str,
    source_corpus: str | None,
    layerwise: Collection[tuple[str, str, str]],
) -> Layer:
    """The layer of one job, from the schema-defaulted `peft` section.

    A two_stage job's own pin (`peft.two_stage.experiments[i].layer`) comes first; otherwise
    it takes the layer of the experiment `peft.two_stage.layer_from` names: `trans` (its own,
    train = test) or `cross` (the model's cross-lingual experiment: model-language corpus ->
    the test corpus, the study's). That experiment's `layer:` in `peft.experiments` pins it;
    without one it is chosen from `best_layers.csv`, so the experiment must be one of the
    layer-wise `experiments` (`layerwise`): a ConfigError names the key otherwise. A pinned
    layer where the strategy has nothing to adapt (`nothing_to_adapt`) is a ConfigError too; a
    chosen one is read, for such strategies under `layers_kept: k` and `peft.adapting_layer:
    adaptable`, from the column of the best layer >= 1.
    """
    job = row = (model, train, test)
    where = "peft.experiments"
    if strategy == "two_stage":
        ts = peft["two_stage"]
        own = _pins(ts.get("experiments")).get(row)
        if own is not None:
            return _pinned(peft, own, "peft.two_stage.experiments", strategy, job)
        if ts["layer_from"] == "cross":
            if source_corpus is None:
                raise ConfigError(f"config peft.two_stage.layer_from: cross needs a corpus in {model}'s language")
            row = (model, source_corpus, test)
            where = "peft.two_stage.layer_from: cross"
    pinned = _pins(peft.get("experiments")).get(row)
    if pinned is not None:
        if row != job:
            where += f" (the layer of {row[0]} {row[1]} -> {row[2]} in peft.experiments)"
        return _pinned(peft, pinned, where, strategy, job)
    if row not in layerwise:
        raise ConfigError(
            f"config {where}: the layer of {strategy} {model} {train} -> {test} comes from experiment "
            f"{{model: {row[0]}, train: {row[1]}, test: {row[2]}}}, which has no `layer:` in "
            "peft.experiments and is not a layer-wise experiment (`experiments`): pin its layer "
            "or add it there"
        )
    restricted = uses_lora(strategy) and peft["layers_kept"] == "k" and peft["adapting_layer"] == "adaptable"
    return Layer(row=row, column=ADAPTABLE_COLUMN if restricted else BEST_COLUMN)


def as_params(value: Any) -> dict[str, Any] | None:
    """A settings dataclass as a Snakemake param (a dict with sorted keys), None as None."""
    return None if value is None else dict(sorted(asdict(value).items()))


def check_plan(
    peft: Mapping[str, Any],
    jobs: Collection[tuple[str, str, str, str]],
    layerwise: Collection[tuple[str, str, str]],
    sources: Mapping[str, str | None],
) -> None:
    """Fail at configuration time, naming the key, where a job's layer has no source
    (`job_layer`) or Table I's "no PEFT" column would read a probe that does not run
    (`peft.table1.no_peft: probe` needs every PEFT experiment among the layer-wise ones).
    `jobs`: (model, train, test, strategy); `sources`: model -> its model-language corpus."""
    for model, train, test, strategy in jobs:
        job_layer(
            peft,
            model=model,
            train=train,
            test=test,
            strategy=strategy,
            source_corpus=sources.get(model),
            layerwise=layerwise,
        )
    if peft["table1"]["no_peft"] == "probe":
        for model, train, test, strategy in jobs:
            if strategy != "two_stage" and (model, train, test) not in layerwise:
                raise ConfigError(
                    f"config peft.table1.no_peft: probe reads the layer-wise probe of {model} "
                    f"{train} -> {test}, which is not a layer-wise experiment (`experiments`): add it "
                    "there, or no_peft: frozen"
                )
