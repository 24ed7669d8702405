"""Fixtures of the stacked fine-tuning tests: two tiny corpora with three folds each, tiny
encoders on disk (with random parts switched on where asked), and fold jobs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from finetune_settings import SETTINGS
from safetensors.torch import load_file

from tiny_encoders import KINDS, TINY, feature_extractor, tiny_model
from xlser.config import Optim
from xlser.peft.job import FinetuneJob, JobInputs, JobOutputs
from xlser.peft.settings import Adapter, Layer, Lora

EMOTIONS = ("angry", "happy", "neutral", "sad")
PITCH = {"angry": 300.0, "happy": 450.0, "neutral": 150.0, "sad": 100.0}
FOLDS = 3
#: every random part of the encoder in training mode (the checkpoint's own are 0 in the tiny encoders)
RANDOM = {
    "hidden_dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.1,
    "feat_proj_dropout": 0.1,
    "layerdrop": 0.2,
    "mask_time_prob": 0.2,
    "mask_time_length": 2,
}


def corpus(root: Path, name: str, lang: str, per: int = 8, seed: int = 0) -> tuple[str, str]:
    """Tones (0.3-0.7 s) whose pitch codes the emotion; fold f tests on utterances 2f, 2f+1 of
    each emotion, validates on the next two, trains on the other four. (manifest, splits)."""
    rng = np.random.default_rng(seed)
    wavdir = root / "wav" / name
    wavdir.mkdir(parents=True)
    rows, split = [], []
    for e in EMOTIONS:
        for i in range(per):
            t = np.arange(int(rng.uniform(0.3, 0.7) * 16000)) / 16000
            wav = 0.5 * np.sin(2 * np.pi * PITCH[e] * t) + 0.1 * rng.standard_normal(t.size)
            uid = f"{name}_{e}_{i}"
            sf.write(wavdir / f"{uid}.wav", wav.astype(np.float32), 16000, subtype="FLOAT")
            path = str(wavdir / f"{uid}.wav")
            rows.append(
                {
                    "utt_id": uid,
                    "corpus": name,
                    "lang": lang,
                    "speaker": "s1",
                    "emotion": e,
                    "path": path,
                    "duration_s": t.size / 16000,
                    "sample_rate": 16000,
                }
            )
            for f in range(FOLDS):
                k = (i - 2 * f) % per
                split.append({"utt_id": uid, "fold": f, "partition": "test" if k < 2 else "val" if k < 4 else "train"})
    man = root / "results" / "corpora" / name / "manifest.csv"
    man.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(man, index=False)
    spl = root / "results" / "splits" / f"{name}.csv"
    spl.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(split).to_csv(spl, index=False)
    return str(man), str(spl)


def save_model(path: Path, kind: str = "wav2vec2-group", **config: Any) -> str:
    """A tiny encoder of `kind` on disk, its config changed by `config` (e.g. `RANDOM`)."""
    cfg_cls, model_cls, extra = KINDS[kind]
    weights = tiny_model(kind).state_dict()
    model = model_cls(cfg_cls(**{**TINY, **extra, **config}))
    model.load_state_dict(weights, strict=False)
    model.save_pretrained(path)
    feature_extractor(kind).save_pretrained(path)
    return str(path)


def data(root: Path) -> dict[str, Any]:
    a, b = corpus(root, "CA", "CN", seed=1), corpus(root, "CB", "DE", seed=2)
    listening = root / "CB.listening.csv"
    ids = ["CB_angry_0", "CB_sad_3", "CB_happy_5", "CB_neutral_6"]
    pd.DataFrame({"utt_id": ids, "emotion": [i.split("_")[1] for i in ids], "speaker": "s1"}).to_csv(
        listening, index=False
    )
    return {"root": root, "manifests": (a[0], b[0]), "splits": (a[1], b[1]), "listening": str(listening)}


OPTIM = Optim(lr=5e-3, eps=1e-8, weight_decay=1e-2, batch_size=4, max_epochs=3, patience=10, seed=3)


def job(
    d: dict[str, Any],
    model: str,
    out: Path,
    fold: int,
    strategy: str = "lora+ba+wg",
    train: str = "CA",
    test: str = "CB",
    optim: dict | None = None,
    lora_dropout: float = 0.0,
    listening: bool = False,
    **settings: Any,
) -> FinetuneJob:
    """Fold `fold` of one experiment, its files under out/fold<fold>/."""
    if strategy == "two_stage":
        settings.setdefault("two_stage_schedule", "stagewise")
    out = Path(out) / f"fold{fold}"
    return FinetuneJob(
        model="M",
        train=train,
        test=test,
        strategy=strategy,
        fold=fold,
        setting="cross" if train != test else "trans",
        source=model,
        layer=Layer(pinned=2),
        optim=dataclasses.replace(OPTIM, **(optim or {})),
        settings=dataclasses.replace(SETTINGS, **settings),
        head="linear",
        emotions=EMOTIONS,
        device="cpu",
        inputs=JobInputs(d["manifests"], d["splits"], listening=d["listening"] if listening else None),
        outputs=JobOutputs(
            *(str(out / n) for n in ("metrics.json", "predictions.csv", "adapter.safetensors", "stimuli.csv"))
        ),
        stage_corpus="CA" if strategy == "two_stage" else None,
        lora=Lora(r=4, alpha=8.0, dropout=lora_dropout) if strategy != "frozen" else None,
        adapter=Adapter(reduction=8) if strategy in ("lora+ba+wg", "two_stage") else None,
        checkpoint_dir=str(out / "ckpt"),
    )


def weights(j: FinetuneJob) -> dict[str, torch.Tensor]:
    return load_file(j.outputs.adapter)


def probs(path: str) -> np.ndarray:
    return pd.read_csv(path).filter(like="p_").to_numpy(dtype=float)
