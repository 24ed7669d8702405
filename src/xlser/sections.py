"""The config's sections as typed, immutable settings: what rules and jobs read (`S.probe.head`).

Built once, by `xlser.config.resolve`, from the schema-defaulted config. Values are kept as
configured (an integer stays an integer), so the params made of them compare equal to what
earlier runs recorded; sequences become tuples and mappings read-only views in canonical
form, and `canonical` turns either back into a param. A section the config leaves out
resolves to None or empty fields, as reading its absent keys would (its jobs never plan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType
from typing import Any


def canonical(value: Any) -> Any:
    """A value in canonical form for Snakemake params: dicts with sorted keys (recursively),
    tuples as lists, so that equal settings compare equal whatever order they were written in."""
    if isinstance(value, Mapping):
        return {str(k): canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def frozen(value: Any) -> Any:
    """A config value, read-only: lists as tuples, mappings as canonical read-only views."""
    if isinstance(value, Mapping):
        return MappingProxyType(canonical(value))
    if isinstance(value, list):
        return tuple(value)
    return value


def _from(cls: type, section: Mapping[str, Any] | None, **computed: Any) -> Any:
    """`cls` from a defaulted section: each field its key's value (None when absent), or `computed`."""
    section = section or {}
    return cls(**{f.name: computed[f.name] if f.name in computed else frozen(section.get(f.name)) for f in fields(cls)})


@dataclass(frozen=True)
class Optim:
    """Optimiser and early-stopping settings, shared by probes, fine-tuning and the SED probe.

    AdamW with `lr`, `eps`, `weight_decay`; up to `max_epochs`, stopping when validation
    loss has not improved for `patience` epochs; `seed` seeds initialisation and shuffling.
    """

    lr: float
    eps: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    seed: int

    @classmethod
    def from_section(cls, section: Mapping[str, Any], **override: Any) -> Optim:
        """The optimiser keys of a (defaulted) config section; other keys are ignored."""
        values = {f.name: section[f.name] for f in fields(cls)} | override
        return cls(**{f.name: (float if f.type == "float" else int)(values[f.name]) for f in fields(cls)})


@dataclass(frozen=True)
class Splits:
    """`splits`: balanced cross-validation folds and the listening stimuli (always configured)."""

    train_per_emotion: int
    val: int
    test: int
    folds: int
    seed: int
    listening_per_emotion: int
    cross_val_on: str
    heldout: str
    exclude_stimuli: bool
    random_folds: str

    def values(self, *keys: str) -> dict[str, Any]:
        """{key: value} of `keys`, sorted: a param holding only what the job uses."""
        return {k: getattr(self, k) for k in sorted(keys)}


@dataclass(frozen=True)
class Features:
    """`features`: how pooled hidden states are extracted and stored."""

    max_batch_seconds: float
    precision: str
    top_layer_norm: bool
    batching: str
    dtype: str


@dataclass(frozen=True)
class Probe:
    """`probe`: the layer-wise probes (the optimiser's keys and the head's choices)."""

    lr: float
    eps: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    seed: int
    head: str
    selection: str
    standardize: bool
    init: str
    shuffle: str
    patience_reset: str

    def as_param(self) -> dict[str, Any]:
        """The whole section, canonical: the probes use every key."""
        return canonical(asdict(self))

    def optim(self, **override: Any) -> Optim:
        """The probes' optimiser, with `override`s (the SED frame head's own lr, max_epochs)."""
        return Optim.from_section(asdict(self), **override)


@dataclass(frozen=True)
class Peft:
    """`peft`: what the rules read of fine-tuning; a job's own cut is `xlser.finetuning.job_settings`."""

    strategies: tuple[str, ...]
    training: str  # stacked (one job per experiment and strategy) | separate (one per fold): peft.training
    folds: tuple[int, ...] | None  # the folds fine-tuned; None: every cross-validation fold
    no_peft: str  # Table I's "no PEFT" column: frozen | probe (peft.table1.no_peft)
    optim: Optim | None  # None when no fine-tuning job is planned
    section: Mapping[str, Any]  # the defaulted section, read-only (job_settings, job_layer)

    @classmethod
    def from_section(cls, section: Mapping[str, Any], planned: bool) -> Peft:
        return cls(
            strategies=tuple(section.get("strategies") or ()),
            training=section["training"],
            folds=tuple(section["folds"]) if "folds" in section else None,
            no_peft=section["table1"]["no_peft"],
            optim=Optim.from_section(section) if planned else None,
            section=MappingProxyType(dict(section)),
        )


@dataclass(frozen=True)
class Sed:
    """`sed`: speech emotion diarization (Table IV)."""

    corpus: str | None
    per_emotion: int | None
    emotions: tuple[str, ...] | None
    subset: str | None  # a CSV pinning the subset
    window: float | None
    stride: float | None
    models: Mapping[str, Mapping[str, Any]]  # name -> its entry (backend, source, ...)

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> Sed:
        return _from(cls, section, models=frozen((section or {}).get("models") or {}))


@dataclass(frozen=True)
class Table3:
    """Table III's model panels, resolved once: `source: probe` has no strategy ("probe") and
    one prediction per stimulus ("average"); `finetune` the configured strategy and combine."""

    source: str
    strategy: str
    combine: str

    @classmethod
    def from_section(cls, t3: Mapping[str, Any]) -> Table3:
        if t3["source"] == "finetune":
            return cls("finetune", t3["strategy"], t3["combine"])
        return cls(t3["source"], "probe", "average")


@dataclass(frozen=True)
class Human:
    """`human`: listening tests (Tables II, III, t-tests); None fields when the section is absent."""

    listeners: str | None
    webmushra: tuple[str, ...]
    responses: tuple[str, ...]
    stimuli: str | None
    listener_column: str | None
    lenient: bool | None
    min_answered: float | None
    table3: Table3 | None
    tests: Mapping[str, Mapping[str, Any]]  # testId -> its entry: the kits to build

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> Human:
        section = section or {}
        return _from(
            cls,
            section,
            webmushra=tuple(section.get("webmushra") or ()),
            responses=tuple(section.get("responses") or ()),
            table3=Table3.from_section(section["table3"]) if "table3" in section else None,
            tests=MappingProxyType({t["id"]: MappingProxyType(canonical(t)) for t in section.get("tests") or ()}),
        )

    def kit_corpora(self, test_id: str, listening_corpora: list[str]) -> list[str]:
        """The corpora of a listening test (its empty `corpora`: every listening corpus)."""
        return list(self.tests[test_id]["corpora"]) or listening_corpora


@dataclass(frozen=True)
class DemoPretrain:
    """`demo.pretrain`: how the demo models with a voice are pre-trained."""

    steps: int
    batch_size: int
    lr: float
    voices: tuple[str, ...]
    heldout_voices: tuple[str, ...]

    def as_param(self) -> dict[str, Any]:
        """What pre-training one model uses (not the held-out voices, read by the summary)."""
        return canonical({k: getattr(self, k) for k in ("steps", "batch_size", "lr", "voices")})


@dataclass(frozen=True)
class Demo:
    """`demo`: the embedded demo's corpora, models and simulated listeners (empty: a real run)."""

    enabled: bool
    seed: int | None
    sample_rate: int | None
    corpora: Mapping[str, Mapping[str, Any]]
    models: Mapping[str, Mapping[str, Any]]
    pretrain: DemoPretrain | None
    listeners: Mapping[str, Any] | None

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> Demo:
        section = section or {}
        return _from(
            cls,
            section,
            enabled=bool(section),
            corpora=frozen(section.get("corpora") or {}),
            models=frozen(section.get("models") or {}),
            pretrain=_from(DemoPretrain, section["pretrain"]) if "pretrain" in section else None,
        )

    @property
    def pretrained_models(self) -> list[str]:
        """The demo models with a `voice`: pre-trained on their language (xlser.demo.pretrain)."""
        return sorted(m for m, spec in self.models.items() if spec.get("voice"))
