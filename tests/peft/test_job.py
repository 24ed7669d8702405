"""The fine-tuning job as an object: built from a rule's Snakemake objects (one fold, or the
folds of a stacked rule), checked when made, and handed to another process as plain data."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from xlser.peft.job import FinetuneJob, job_from_rule, jobs_from_rule
from xlser.peft.settings import Adapter, Layer, Lora

PARAMS = {
    "source": "ckpt/W2V2-CN",
    "setting": "cross",
    "layer": {"row": ["W2V2-CN", "ESD", "PAVOQUE"]},
    "stage_corpus": None,
    "optim": {
        "batch_size": 1,
        "eps": 1e-8,
        "lr": 1e-4,
        "max_epochs": 100,
        "patience": 10,
        "seed": 42,
        "weight_decay": 1e-5,
    },
    "finetune": {
        "cache_features": True,
        "clip_normalised_waveform": True,
        "cross_val_on": "target",
        "encoder_mode": "train",
        "grad_clip": None,
        "layers_kept": "k+1",
        "max_batch_seconds": 60.0,
        "precision": "fp32",
        "standardize": False,
        "threads": 1,
        "two_stage_schedule": None,
    },
    "lora": {"alpha": 16.0, "dropout": 0.1, "r": 8},
    "adapter": {"reduction": 16},
    "head": "mlp",
    "emotions": ["angry", "happy", "neutral", "sad"],
    "device": "auto",
}
WILD = {"model": "W2V2-CN", "train": "ESD", "test": "PAVOQUE", "strategy": "lora+ba+wg"}
INPUT = SimpleNamespace(
    best_layers="results/layerwise/best_layers.csv",
    manifests=["results/corpora/ESD/manifest.csv", "results/corpora/PAVOQUE/manifest.csv"],
    splits=["results/splits/ESD.csv", "results/splits/PAVOQUE.csv"],
    listening="results/splits/PAVOQUE.listening.csv",
)
OUT = "results/peft/W2V2-CN/ESD__PAVOQUE/lora+ba+wg/fold{}/{}"
NAMES = {
    "metrics": "metrics.json",
    "predictions": "predictions.csv",
    "adapter": "adapter.safetensors",
    "stimuli": "stimuli.csv",
}


def test_one_job_from_the_finetune_rule():
    params = SimpleNamespace(**PARAMS, checkpoint_dir="results/checkpoints/peft/x/fold2")
    output = SimpleNamespace(**{k: OUT.format(2, v) for k, v in NAMES.items()})
    job = job_from_rule(SimpleNamespace(**WILD, fold="2"), INPUT, params, output, fresh_start=True)
    assert (job.fold, job.strategy, job.layer, job.fresh_start) == (
        2,
        "lora+ba+wg",
        Layer(row=("W2V2-CN", "ESD", "PAVOQUE")),
        True,
    )
    assert job.lora == Lora(8, 16.0, 0.1) and job.adapter == Adapter(16) and job.settings.layers_kept == "k+1"
    assert job.inputs.best_layers == INPUT.best_layers and job.inputs.manifests == tuple(INPUT.manifests)
    assert job.outputs.adapter == OUT.format(2, "adapter.safetensors") and job.checkpoint_dir.endswith("fold2")
    assert job.val_corpus == "PAVOQUE" and job.corpora == {"ESD", "PAVOQUE"}
    assert FinetuneJob.from_dict(json.loads(json.dumps(job.as_dict()))) == job
    pinned = SimpleNamespace(**{**PARAMS, "layer": {"pinned": 3}}, checkpoint_dir=None)
    no_best = SimpleNamespace(**{k: v for k, v in vars(INPUT).items() if k not in ("best_layers", "listening")})
    job = job_from_rule(SimpleNamespace(**WILD, fold="0"), no_best, pinned, output)
    assert (job.layer.pinned, job.inputs.best_layers, job.inputs.listening) == (3, None, None)


def test_the_folds_of_a_stacked_rule():
    folds = [0, 1, 2, 3, 4]
    params = SimpleNamespace(**PARAMS, folds=folds, checkpoint_dirs=[f"ckpt/fold{f}" for f in folds])
    output = SimpleNamespace(**{k: [OUT.format(f, v) for f in folds] for k, v in NAMES.items()})
    jobs = jobs_from_rule(SimpleNamespace(**WILD), INPUT, params, output)
    assert [j.fold for j in jobs] == folds
    for f, j in zip(folds, jobs):
        assert j.outputs.metrics == OUT.format(f, "metrics.json") and j.checkpoint_dir == f"ckpt/fold{f}"
        assert dataclasses.replace(j, fold=0, outputs=jobs[0].outputs, checkpoint_dir=jobs[0].checkpoint_dir) == jobs[0]


def test_a_job_that_lacks_what_its_strategy_needs_cannot_be_made():
    params = SimpleNamespace(**PARAMS, checkpoint_dir=None)
    output = SimpleNamespace(**{k: OUT.format(0, v) for k, v in NAMES.items()})
    job = job_from_rule(SimpleNamespace(**WILD, fold="0"), INPUT, params, output)
    with pytest.raises(ValueError, match="needs the LoRA settings"):
        dataclasses.replace(job, lora=None)
    with pytest.raises(ValueError, match="needs the adapter settings"):
        dataclasses.replace(job, adapter=None)
    with pytest.raises(ValueError, match="two_stage needs the model-language corpus"):
        dataclasses.replace(job, strategy="two_stage")
    with pytest.raises(ValueError, match="needs the validation corpus"):
        dataclasses.replace(job, settings=dataclasses.replace(job.settings, cross_val_on=None))
    with pytest.raises(ValueError, match="unknown PEFT strategy"):
        dataclasses.replace(job, strategy="full")
