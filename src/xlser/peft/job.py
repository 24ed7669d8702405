"""One fine-tuning job as data: what it is, what it reads, what it writes, how it trains (no torch).

`FinetuneJob` is the whole argument of `xlser.peft.train.run_finetune` (one job) and of
`xlser.peft.stack.run_stacked` (the folds of one experiment and strategy, trained together).
It holds the job's identity (model, train and test corpus, strategy, fold, setting), its
settings (`Optim`, `Finetune`, `Lora`, `Adapter`: typed, no defaults), its input files
(`JobInputs`) and output files (`JobOutputs`). A job is checked when it is made: a LoRA
strategy without LoRA sizes, a two_stage job without its model-language corpus or
schedule, a cross-corpus job without the validation corpus cannot be built.

`job_from_rule` builds it from a Snakemake job's `wildcards`, `input`, `params` and
`output` (the `finetune` rule's), `jobs_from_rule` the fold jobs of a rule that trains the
folds of one experiment and strategy together; `as_dict` / `from_dict` give a JSON-able
form (to hand a job to another process).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from xlser.config import Optim
from xlser.peft.settings import STRATEGIES, Adapter, Finetune, Layer, Lora, uses_adapters, uses_lora


@dataclass(frozen=True)
class JobInputs:
    """The files a job reads.

    manifests, splits: of every corpus it uses (train, test, and two_stage's model-language
    corpus), matched to corpora by their paths (`xlser.peft.data.corpus_files`).
    best_layers: `best_layers.csv`, needed only when the layer is chosen by the layer-wise
    stage (None for a pinned layer). listening: the test corpus's listening stimuli
    (`splits/{corpus}.listening.csv`), None when none are scored."""

    manifests: tuple[str, ...]
    splits: tuple[str, ...]
    best_layers: str | None = None
    listening: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "manifests", tuple(str(p) for p in self.manifests))
        object.__setattr__(self, "splits", tuple(str(p) for p in self.splits))


@dataclass(frozen=True)
class JobOutputs:
    """The files a job writes (each atomically): metrics.json, predictions.csv (test set),
    adapter.safetensors (the trained weights), stimuli.csv (the listening stimuli scored)."""

    metrics: str
    predictions: str
    adapter: str
    stimuli: str


@dataclass(frozen=True)
class FinetuneJob:
    """One (model, train, test, strategy, fold) fine-tune.

    source: the checkpoint (hub id or folder). layer: where layer k comes from (`Layer`).
    stage_corpus: two_stage's model-language corpus (None otherwise). lora / adapter: the
    PEFT modules' sizes where the strategy uses them (else None). head: the head kind
    (`linear`, `mlp`). emotions: the classes, in order. device: `auto`, `cpu` or `cuda`.
    checkpoint_dir: where the per-epoch training state lives (None: no checkpoints).
    fresh_start: discard a leftover checkpoint instead of resuming it (a forced re-run:
    `snakemake -F` or `-R finetune`). job_threads: the CPUs the job holds (Snakemake's
    `threads`): a CUDA job computes with all of them, a CPU job with `settings.threads`
    (`xlser.device.compute_threads`); None: `settings.threads` everywhere.
    """

    model: str
    train: str
    test: str
    strategy: str
    fold: int
    setting: str
    source: str
    layer: Layer
    optim: Optim
    settings: Finetune
    head: str
    emotions: tuple[str, ...]
    device: str
    inputs: JobInputs
    outputs: JobOutputs
    stage_corpus: str | None = None
    lora: Lora | None = None
    adapter: Adapter | None = None
    checkpoint_dir: str | None = None
    fresh_start: bool = False
    job_threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "emotions", tuple(self.emotions))
        object.__setattr__(self, "fold", int(self.fold))
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown PEFT strategy '{self.strategy}': expected one of {STRATEGIES}")
        if uses_lora(self.strategy) and self.lora is None:
            raise ValueError(f"strategy {self.strategy} needs the LoRA settings (peft.lora)")
        if uses_adapters(self.strategy) and self.adapter is None:
            raise ValueError(f"strategy {self.strategy} needs the adapter settings (peft.adapter)")
        if self.two_stage and (not self.stage_corpus or self.settings.two_stage_schedule is None):
            raise ValueError(
                f"two_stage needs the model-language corpus of {self.model} (models.{self.model}.lang) "
                "and peft.two_stage.schedule"
            )
        if self.train != self.test and self.settings.cross_val_on is None:
            raise ValueError(
                f"{self.train} -> {self.test} needs the validation corpus of cross-corpus runs (splits.cross_val_on)"
            )

    @property
    def two_stage(self) -> bool:
        return self.strategy == "two_stage"

    @property
    def val_corpus(self) -> str:
        """The corpus whose validation partition picks the epoch: the test corpus for a cross
        run validated on the target (`splits.cross_val_on: target`), else the train corpus."""
        return self.test if self.train != self.test and self.settings.cross_val_on == "target" else self.train

    @property
    def corpora(self) -> set[str]:
        """The corpora this job reads."""
        return {self.train, self.test} | ({self.stage_corpus} if self.two_stage else set())

    @property
    def name(self) -> str:
        return f"{self.model} {self.strategy} {self.train}->{self.test} fold {self.fold}"

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (settings as dicts, the layer as its param)."""
        d = dataclasses.asdict(self)
        d["layer"] = self.layer.as_param()
        d["emotions"] = list(self.emotions)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FinetuneJob:
        """The inverse of `as_dict`."""
        d = dict(d)
        d["layer"] = Layer.from_param(d["layer"])
        d["optim"] = Optim(**d["optim"])
        d["settings"] = Finetune(**d["settings"])
        d["lora"] = Lora(**d["lora"]) if d.get("lora") else None
        d["adapter"] = Adapter(**d["adapter"]) if d.get("adapter") else None
        d["inputs"] = JobInputs(**d["inputs"])
        d["outputs"] = JobOutputs(**d["outputs"])
        return cls(**d)


def _files(value: Any) -> list[str]:
    """A named Snakemake input that may be absent, one path, or a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def job_from_rule(
    wildcards: Any, input: Any, params: Any, output: Any, fresh_start: bool = False, job_threads: int | None = None
) -> FinetuneJob:
    """The `finetune` rule's job from its Snakemake objects (attribute access, as in a script)."""
    return _job(wildcards, int(wildcards.fold), input, params, output, params.checkpoint_dir, fresh_start, job_threads)


def jobs_from_rule(
    wildcards: Any, input: Any, params: Any, output: Any, fresh_start: bool = False, job_threads: int | None = None
) -> list[FinetuneJob]:
    """The jobs of a rule that trains the folds of one experiment and strategy together
    (`xlser.peft.stack.run_stacked`): one per fold of `params.folds`, in that order, whose
    outputs are the fold's entries of the named output lists (`metrics`, `predictions`,
    `adapter`, `stimuli`, each in the order of `params.folds`) and whose checkpoint folder is
    the fold's entry of `params.checkpoint_dirs`; every other param as `finetune`'s."""
    jobs = []
    for i, fold in enumerate(params.folds):
        outputs = SimpleNamespace(
            **{k: _files(getattr(output, k))[i] for k in ("metrics", "predictions", "adapter", "stimuli")}
        )
        jobs.append(
            _job(wildcards, int(fold), input, params, outputs, params.checkpoint_dirs[i], fresh_start, job_threads)
        )
    return jobs


def _job(
    wildcards: Any,
    fold: int,
    input: Any,
    params: Any,
    output: Any,
    checkpoint_dir: str | None,
    fresh_start: bool,
    job_threads: int | None,
) -> FinetuneJob:
    best = _files(getattr(input, "best_layers", None))  # absent for a pinned layer
    listening = _files(getattr(input, "listening", None))
    return FinetuneJob(
        model=wildcards.model,
        train=wildcards.train,
        test=wildcards.test,
        strategy=wildcards.strategy,
        fold=fold,
        setting=params.setting,
        source=params.source,
        layer=Layer.from_param(params.layer),
        optim=Optim(**params.optim),
        settings=Finetune(**params.finetune),
        inputs=JobInputs(
            manifests=tuple(_files(input.manifests)),
            splits=tuple(_files(input.splits)),
            best_layers=best[0] if best else None,
            listening=listening[0] if listening else None,
        ),
        outputs=JobOutputs(
            metrics=str(output.metrics),
            predictions=str(output.predictions),
            adapter=str(output.adapter),
            stimuli=str(output.stimuli),
        ),
        stage_corpus=params.stage_corpus,
        lora=Lora(**params.lora) if params.lora else None,
        adapter=Adapter(**params.adapter) if params.adapter else None,
        head=params.head,
        emotions=tuple(params.emotions),
        device=params.device,
        checkpoint_dir=checkpoint_dir,
        fresh_start=bool(fresh_start),
        job_threads=job_threads,
    )
