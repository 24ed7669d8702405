"""Fine-tuning learns: on a small corpus whose emotions are separable (pitch codes the
emotion), a few epochs of a tiny model reach test UA far above chance. A job that pairs
batches with the wrong labels, or trains on nothing, stays near chance (0.25) and fails.
Also pins the epoch at which early stopping ends a job for a given validation-loss sequence,
that a job's outputs are its best validation epoch's, and the gate's initial value in a
built model (checks the guards in tests/shared/test_guards.py made alone before)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import transformers as T
from finetune_settings import SETTINGS

from xlser.config import Optim
from xlser.peft import train as train_mod
from xlser.peft.job import FinetuneJob, JobInputs, JobOutputs
from xlser.peft.modules import Lora, build_model
from xlser.peft.settings import Layer
from xlser.peft.train import run_finetune

EMOTIONS = ["angry", "happy", "neutral", "sad"]
PITCH = {"angry": 600.0, "happy": 1200.0, "neutral": 150.0, "sad": 300.0}


def tiny_model(path: Path) -> str:
    torch.manual_seed(0)
    cfg = T.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32, 32),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
    )
    T.Wav2Vec2Model(cfg).save_pretrained(path)
    T.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True).save_pretrained(path)
    return str(path)


def corpus(root: Path, per: tuple[int, int, int] = (8, 3, 4)) -> tuple[str, str]:
    """Tones (0.2-0.35 s) whose pitch codes the emotion, with a little noise; (manifest, splits)."""
    rng = np.random.default_rng(0)
    rows, split = [], []
    for e in EMOTIONS:
        for part, n in zip(("train", "val", "test"), per):
            for i in range(n):
                t = np.arange(int(rng.uniform(0.2, 0.35) * 16000)) / 16000
                w = 0.5 * np.sin(2 * np.pi * PITCH[e] * t + rng.uniform(0, 6)) + 0.05 * rng.standard_normal(t.size)
                uid = f"C_{e}_{part}{i}"
                sf.write(root / f"{uid}.wav", w.astype(np.float32), 16000, subtype="FLOAT")
                rows.append(
                    {
                        "utt_id": uid,
                        "corpus": "C",
                        "lang": "EN",
                        "speaker": "s1",
                        "emotion": e,
                        "path": str(root / f"{uid}.wav"),
                        "duration_s": t.size / 16000,
                        "sample_rate": 16000,
                    }
                )
                split.append({"utt_id": uid, "fold": 0, "partition": part})
    man, spl = root / "results" / "corpora" / "C" / "manifest.csv", root / "results" / "splits" / "C.csv"
    man.parent.mkdir(parents=True)
    spl.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(man, index=False)
    pd.DataFrame(split).to_csv(spl, index=False)
    return str(man), str(spl)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("learns")
    return tiny_model(root / "model"), corpus(root)


def job(data, out: Path, strategy: str, max_epochs: int, patience: int = 100, lr: float = 2e-2) -> FinetuneJob:
    model, (man, spl) = data
    settings = dataclasses.replace(SETTINGS, cross_val_on=None, standardize=True)
    return FinetuneJob(
        model="M",
        train="C",
        test="C",
        strategy=strategy,
        fold=0,
        setting="mono",
        source=model,
        layer=Layer(pinned=2),
        optim=Optim(lr=lr, eps=1e-8, weight_decay=0.0, batch_size=4, max_epochs=max_epochs, patience=patience, seed=1),
        settings=settings,
        head="linear",
        emotions=tuple(EMOTIONS),
        device="cpu",
        inputs=JobInputs(manifests=(man,), splits=(spl,)),
        outputs=JobOutputs(
            metrics=str(out / "metrics.json"),
            predictions=str(out / "predictions.csv"),
            adapter=str(out / "adapter.safetensors"),
            stimuli=str(out / "stimuli.csv"),
        ),
        lora=Lora(r=2, alpha=4, dropout=0.0) if strategy != "frozen" else None,
    )


@pytest.mark.parametrize("strategy", ["frozen", "lora"])
def test_fine_tuning_learns_a_separable_corpus(data, tmp_path, strategy):
    m = run_finetune(job(data, tmp_path, strategy, max_epochs=8))
    # 16 test utterances, 4 classes: chance is 0.25; a model trained on its labels gets them (nearly) all
    assert m["ua"] >= 0.75, m
    pred = pd.read_csv(tmp_path / "predictions.csv")
    assert len(pred) == 16
    assert json.loads((tmp_path / "metrics.json").read_text())["ua"] == m["ua"]


def scripted_losses(monkeypatch, losses: list[float]) -> dict[str, int]:
    """Validation losses replaced by `losses` (in order); training skipped: the stopping rule only."""
    calls = {"val": 0}
    real = train_mod.predict

    def predict(model, part, *a, **k):
        probs, loss = real(model, part, *a, **k)
        if part.name.endswith(":val"):
            loss, calls["val"] = losses[calls["val"]], calls["val"] + 1
        return probs, loss

    monkeypatch.setattr(train_mod, "predict", predict)
    monkeypatch.setattr(train_mod.Trainer, "_train_epoch", lambda self, part, seed: 0.0)
    return calls


@pytest.mark.parametrize(
    "losses,patience,stops_after",
    [
        ([1.0, 0.9, 0.95, 0.97, 0.99, 0.5], 3, 5),  # best at epoch 2, then 3 without improvement: epoch 5
        ([1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8], 3, 8),  # a tie is no improvement; 0.8 at epoch 5 resets
        ([1.0, 1.1, 1.2], 1, 2),  # patience 1: the first worse epoch stops
        ([3.0, 2.0, 1.0, 0.5, 0.4, 0.3], 2, 6),  # always improving: the epoch budget (6) ends it
    ],
)
def test_fine_tuning_stops_at_the_pinned_epoch(data, tmp_path, monkeypatch, losses, patience, stops_after):
    calls = scripted_losses(monkeypatch, losses + [0.0] * 10)
    m = run_finetune(job(data, tmp_path, "frozen", max_epochs=6 if stops_after == 6 else 20, patience=patience))
    assert m["epochs"] == stops_after == calls["val"]


def test_every_gate_of_a_built_model_starts_at_sigmoid_one():
    torch.manual_seed(0)
    cfg = T.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    model = build_model(T.Wav2Vec2Model(cfg), 2, "lora+ba+wg", 4)
    gates = [m.g for m in model.modules() if isinstance(getattr(m, "g", None), torch.nn.Parameter)]
    assert len(gates) == 2  # one per kept layer
    for g in gates:
        assert g.shape == (16,) and g.requires_grad
        torch.testing.assert_close(torch.sigmoid(g), torch.full((16,), 0.7310585786300049))


def test_outputs_are_those_of_the_best_validation_epoch(data, tmp_path, monkeypatch):
    # validation UA scripted: best at epoch 2 of 5; the job must end with epoch 2's weights,
    # i.e. exactly the test numbers of the same job stopped after 2 epochs
    real_ua = train_mod.metrics.ua

    def scripted(values):  # the first UAs a job computes are its epochs' validation UAs
        script = list(values)
        monkeypatch.setattr(train_mod.metrics, "ua", lambda *a, **k: script.pop(0) if script else real_ua(*a, **k))
        return script

    left = scripted([0.5, 0.9, 0.4, 0.3, 0.2])
    m5 = run_finetune(job(data, tmp_path / "five", "frozen", max_epochs=5))
    assert not left and m5["epochs"] == 5 and m5["best_epoch"] == 2
    scripted([0.5, 0.9])
    m2 = run_finetune(job(data, tmp_path / "two", "frozen", max_epochs=2))
    assert m2["best_epoch"] == 2
    assert m5["ua"] == pytest.approx(m2["ua"], abs=1e-12)
    p5 = pd.read_csv(tmp_path / "five" / "predictions.csv")
    p2 = pd.read_csv(tmp_path / "two" / "predictions.csv")
    probs = [c for c in p5.columns if c.startswith("p_")]
    assert probs
    pd.testing.assert_frame_equal(
        p5[["utt_id", "pred", *probs]], p2[["utt_id", "pred", *probs]], check_exact=False, atol=1e-6
    )
