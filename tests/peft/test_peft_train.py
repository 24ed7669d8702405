"""Fine-tuning jobs end to end on tiny fixtures: outputs, protocol options, stimuli, resume, Table I."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import transformers as T
from finetune_settings import SETTINGS

from xlser import metrics
from xlser.config import Optim
from xlser.errors import InputError
from xlser.peft import train as train_mod
from xlser.peft.data import corpus_files, load_partition
from xlser.peft.job import FinetuneJob, JobInputs, JobOutputs
from xlser.peft.modules import Adapter, Lora
from xlser.peft.settings import Layer, best_layer
from xlser.peft.train import run_finetune, stage_limit

EMOTIONS = ["angry", "happy", "neutral", "sad"]
PITCH = {"angry": 300.0, "happy": 450.0, "neutral": 150.0, "sad": 100.0}
ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)  # tiny models: more threads only contend (and the kill test needs a slow-enough child)


def tiny_model(path: Path, stable: bool = True, **config) -> Path:
    """A tiny random wav2vec2 (the demo's kind: stable layer norm, attention mask) on disk."""
    torch.manual_seed(0)
    cfg = T.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32, 32),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=stable,
        feat_extract_norm="layer" if stable else "group",
        **config,
    )
    T.Wav2Vec2Model(cfg).save_pretrained(path)
    T.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=stable
    ).save_pretrained(path)
    return path


def corpus(root: Path, name: str, lang: str, per: tuple[int, int, int] = (6, 2, 2), seed: int = 0) -> tuple[str, str]:
    """Tones whose pitch codes the emotion, with results/ layout paths; (manifest, splits)."""
    rng = np.random.default_rng(seed)
    wavdir = root / "wav" / name
    wavdir.mkdir(parents=True)
    rows, split = [], []
    for e in EMOTIONS:
        for part, n in zip(("train", "val", "test"), per):
            for i in range(n):
                dur = float(rng.uniform(0.3, 0.7))
                t = np.arange(int(dur * 16000)) / 16000
                wav = 0.5 * np.sin(2 * np.pi * PITCH[e] * t) + 0.05 * rng.standard_normal(t.size)
                uid = f"{name}_{e}_{part}{i}"
                sf.write(wavdir / f"{uid}.wav", wav.astype(np.float32), 16000, subtype="FLOAT")
                rows.append(
                    {
                        "utt_id": uid,
                        "corpus": name,
                        "lang": lang,
                        "speaker": "s1",
                        "emotion": e,
                        "path": str(wavdir / f"{uid}.wav"),
                        "duration_s": t.size / 16000,
                        "sample_rate": 16000,
                    }
                )
                split.append({"utt_id": uid, "fold": 0, "partition": part})
    man = root / "results" / "corpora" / name / "manifest.csv"
    man.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(man, index=False)
    spl = root / "results" / "splits" / f"{name}.csv"
    spl.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(split).to_csv(spl, index=False)
    return str(man), str(spl)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("peftjob")
    model = tiny_model(root / "model")
    a = corpus(root, "CA", "CN", seed=1)
    b = corpus(root, "CB", "DE", seed=2)
    best = root / "best_layers.csv"
    pd.DataFrame(
        [
            {
                "model": "M",
                "setting": "cross",
                "train": "CA",
                "test": "CB",
                "layer": 2,
                "val_ua": 0.5,
                "test_ua": 0.5,
                "test_ua_std": 0.0,
            },
            {
                "model": "M",
                "setting": "trans",
                "train": "CB",
                "test": "CB",
                "layer": 1,
                "val_ua": 0.5,
                "test_ua": 0.5,
                "test_ua_std": 0.0,
            },
        ]
    ).to_csv(best, index=False)
    return {"root": root, "model": str(model), "manifests": [a[0], b[0]], "splits": [a[1], b[1]], "best": str(best)}


OPTIM = Optim(lr=5e-3, eps=1e-8, weight_decay=1e-5, batch_size=8, max_epochs=6, patience=10, seed=3)
LORA, ADAPTER = Lora(r=2, alpha=4, dropout=0.1), Adapter(reduction=16)


def make_job(
    job,
    out: Path,
    strategy="lora+ba+wg",
    train="CA",
    test="CB",
    setting="cross",
    listening=None,
    optim: dict | None = None,
    layer: Layer | None = None,
    fold: int = 0,
    **settings,
) -> FinetuneJob:
    """A job; its layer chosen from its own best_layers.csv row unless `layer` is given."""
    if strategy == "two_stage":
        settings.setdefault("two_stage_schedule", "stagewise")
    return FinetuneJob(
        model="M",
        train=train,
        test=test,
        strategy=strategy,
        fold=fold,
        setting=setting,
        source=job["model"],
        layer=layer or Layer(row=("M", train, test)),
        optim=dataclasses.replace(OPTIM, **(optim or {})),
        settings=dataclasses.replace(SETTINGS, **settings),
        head="linear",
        emotions=tuple(EMOTIONS),
        device="cpu",
        inputs=JobInputs(
            manifests=tuple(job["manifests"]), splits=tuple(job["splits"]), best_layers=job["best"], listening=listening
        ),
        outputs=JobOutputs(
            metrics=str(out / "metrics.json"),
            predictions=str(out / "predictions.csv"),
            adapter=str(out / "adapter.safetensors"),
            stimuli=str(out / "stimuli.csv"),
        ),
        stage_corpus="CA" if strategy == "two_stage" else None,
        lora=LORA if strategy != "frozen" else None,
        adapter=ADAPTER if strategy in ("lora+ba+wg", "two_stage") else None,
        checkpoint_dir=str(out / "ckpt"),
    )


def without_best_layers(j: FinetuneJob) -> FinetuneJob:
    return dataclasses.replace(j, inputs=dataclasses.replace(j.inputs, best_layers=None))


def test_job_outputs_follow_the_contract(job, tmp_path):
    from safetensors.torch import load_file

    res = run_finetune(make_job(job, tmp_path))
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m == json.loads(json.dumps(res))
    for key in (
        "model",
        "setting",
        "train",
        "test",
        "strategy",
        "fold",
        "layer",
        "ua",
        "wa",
        "macro_f1",
        "epochs",
        "best_epoch",
        "trainable_params",
        "total_params",
        "wall_time_s",
        "torch_threads",
        "layers_kept",
    ):
        assert key in m
    assert m["layer"] == 2 and m["layers_kept"] == 2 and m["epochs"] == 6 and 1 <= m["best_epoch"] <= 6
    assert m["layer_source"] == "chosen"
    assert (m["train_lang"], m["test_lang"], m["val_corpus"]) == ("CN", "DE", "CA")
    pred = pd.read_csv(tmp_path / "predictions.csv")
    assert list(pred.columns) == ["utt_id", "true", "pred"] + [f"p_{e}" for e in EMOTIONS]
    assert len(pred) == 8 and set(pred["utt_id"]) == {f"CB_{e}_test{i}" for e in EMOTIONS for i in range(2)}
    np.testing.assert_allclose(pred[[f"p_{e}" for e in EMOTIONS]].sum(axis=1), 1.0, atol=1e-6)
    assert (pred["pred"] == pred[[f"p_{e}" for e in EMOTIONS]].idxmax(1).str[2:]).all()
    # UA recomputed from the predictions: mean per-class recall
    recall = pred.assign(ok=pred["true"] == pred["pred"]).groupby("true")["ok"].mean()
    assert m["ua"] == pytest.approx(recall.mean())
    # adapter file: exactly the trainable tensors, none of the frozen encoder
    weights = load_file(tmp_path / "adapter.safetensors")
    stats = {"in_mean", "in_std"}  # the head's input standardisation, saved beside the trained weights
    assert stats <= set(weights)
    assert sum(v.numel() for k, v in weights.items() if k not in stats) == m["trainable_params"]
    assert all(
        ("lora_" in k) or ("bottleneck_adapter" in k) or ("input_gate" in k) or k.startswith("head.") or k in stats
        for k in weights
    )
    # no listening stimuli given: stimuli.csv holds its header only
    stim = pd.read_csv(tmp_path / "stimuli.csv")
    assert stim.empty and list(stim.columns) == list(pred.columns) + ["in_train"]
    assert not (tmp_path / "ckpt").exists()  # deleted after success


class Recorder:
    """Wraps `predict` to record (partition, epoch-ordered) validation UAs."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, float]] = []
        real = train_mod.predict

        def wrapped(model, part, *a, **k):
            probs, loss = real(model, part, *a, **k)
            y = part.table["label"].to_numpy()
            self.calls.append((part.name, metrics.ua(y, probs.argmax(1), range(len(EMOTIONS)))))
            return probs, loss

        monkeypatch.setattr(train_mod, "predict", wrapped)


def test_two_stage_stagewise_trains_the_stage_corpus_first_then_resets_early_stopping(job, tmp_path, monkeypatch):
    rec = Recorder(monkeypatch)
    m = run_finetune(
        make_job(job, tmp_path, strategy="two_stage", train="CB", test="CB", setting="trans", optim={"max_epochs": 3})
    )
    assert m["layer"] == 1 and m["layers_kept"] == 1
    assert m["stage_epochs"] == [3, 3] and m["epochs"] == 6  # each stage gets its own early stopping/epoch budget
    assert m["stage_corpus"] == "CA" and 1 <= m["best_epoch"] <= 3 and m["best_stage"] == 1
    names = [n for n, _ in rec.calls]
    assert names[:6] == ["CA:val"] * 3 + ["CB:val"] * 3  # stage 1 validates on its own corpus
    assert m["val_ua"] == max(ua for _, ua in rec.calls[3:6])  # best of the last stage only


def test_two_stage_study_schedule_validates_on_the_target_and_keeps_the_best_of_either_stage(
    job, tmp_path, monkeypatch
):
    rec = Recorder(monkeypatch)
    m = run_finetune(
        make_job(
            job,
            tmp_path,
            strategy="two_stage",
            train="CB",
            test="CB",
            setting="trans",
            optim={"max_epochs": 4, "lr": 0.05},
            two_stage_schedule="study",
        )
    )
    # the study's loop switches at the start of epoch 4 // 2 = 2: one epoch of stage 1, the rest on the target
    assert m["stage_epochs"] == [1, 3] and m["epochs"] == 4
    val = rec.calls[:4]
    assert [n for n, _ in val] == ["CB:val"] * 4
    best = max(range(4), key=lambda i: (val[i][1], -i))  # first epoch with the best val UA
    assert m["val_ua"] == val[best][1]
    assert (m["best_stage"], m["best_epoch"]) == ((0, 1) if best == 0 else (1, best))
    assert m["two_stage_schedule"] == "study"
    # early stopping in stage 1 switches before half the budget (huge lr: the val loss worsens fast)
    m = run_finetune(
        make_job(
            job,
            tmp_path / "es",
            strategy="two_stage",
            train="CB",
            test="CB",
            setting="trans",
            optim={"max_epochs": 12, "patience": 1, "lr": 0.5},
            two_stage_schedule="study",
        )
    )
    # 12 epochs: the switch check fires at the start of epoch 6, so stage 1 has 5; an earlier
    # switch ends the run at the start of epoch 6 too (5 epochs in all)
    assert m["stage_epochs"][0] < 5 and m["epochs"] <= 5


@pytest.mark.parametrize(
    ("stage", "done", "limit"),
    [
        (0, 0, 49),  # stage 1: at most epochs 1-49 (the switch check fires at the start of epoch 50)
        (1, 11, 38),  # switched at the start of epoch 12 (early stopping): stop at the start of epoch 50
        (1, 25, 24),  # switched at epoch 26 (the latest in the study's logs): the same end
        (1, 48, 1),
        (1, 49, 51),  # switched at epoch 50: the target stage runs to the end of the budget
    ],
)
def test_study_schedule_stage_limits_as_the_studys_loop(stage, done, limit):
    assert stage_limit("study", 100, stage, 2, done) == limit
    assert stage_limit("stagewise", 100, stage, 2, done) == 100
    assert stage_limit("study", 100, 0, 1, 0) == 100  # one stage: the whole budget
    with pytest.raises(ValueError, match="schedule 'halfway'"):
        stage_limit("halfway", 100, 0, 2, 0)


def _study_loop(max_epochs: int, val_losses: list[float], patience: int) -> tuple[int, int]:
    """The study's two-stage loop (`runner_various_peft.py`, re-stated): (stage-1 epochs, epochs trained)."""
    half, early, stage, bad, best, trained, first = max_epochs // 2, False, 1, patience, math.inf, 0, None
    for epoch in range(max_epochs):
        if early or epoch + 1 == half:
            if stage == 2:
                break
            stage, first, bad, best, early = 2, trained, patience, math.inf, False
        loss = val_losses[trained]
        trained += 1
        best, bad = (loss, patience) if loss <= best else (best, bad - 1)
        early = early or bad == 0
    return (trained if first is None else first), trained


def test_study_schedule_stops_at_epoch_50_after_an_early_switch(job, tmp_path, monkeypatch):
    """100 epochs, stage 1 stops early after epoch 3: the target stage ends the run at the start
    of epoch 50 (49 epochs trained), as the study's loop does with the same validation losses."""
    losses = [1.0, 1.1, 1.2] + [1.0 - 0.001 * i for i in range(200)]  # stage 1 worsens, stage 2 improves
    calls = {"val": 0}
    real = train_mod.predict

    def scripted(model, part, *a, **k):
        probs, loss = real(model, part, *a, **k)
        if part.name.endswith(":val"):
            loss, calls["val"] = losses[calls["val"]], calls["val"] + 1
        return probs, loss

    monkeypatch.setattr(train_mod, "predict", scripted)
    monkeypatch.setattr(train_mod.Trainer, "_train_epoch", lambda self, part, seed: 0.0)  # the schedule only
    m = run_finetune(
        make_job(
            job,
            tmp_path,
            strategy="two_stage",
            train="CB",
            test="CB",
            setting="trans",
            optim={"max_epochs": 100, "patience": 2},
            two_stage_schedule="study",
        )
    )
    assert m["stage_epochs"] == [3, 46] and m["epochs"] == 49 == calls["val"]
    assert _study_loop(100, losses, 2) == (3, 49)
    # no early stopping at all: 49 epochs of stage 1, then 51 on the target
    assert _study_loop(100, [1.0 - 0.001 * i for i in range(100)], 10) == (49, 100)
    assert [stage_limit("study", 100, 0, 2, 0), stage_limit("study", 100, 1, 2, 49)] == [49, 51]


def test_batch_1_steps_once_per_utterance(job, tmp_path, monkeypatch):
    """paper.yaml's `peft.batch_size: 1` (the study's DataLoader): one optimiser step per
    training utterance and epoch, every utterance once, and a finished job."""
    steps, seen = [], []
    real_step = torch.optim.AdamW.step

    def step(self, *a, **k):
        steps.append(1)
        return real_step(self, *a, **k)

    real_collate = train_mod.Collator.__call__

    def collate(self, part, idx):
        if part.name.endswith(":train"):
            seen.append(list(idx))
        return real_collate(self, part, idx)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    monkeypatch.setattr(train_mod.Collator, "__call__", collate)
    m = run_finetune(make_job(job, tmp_path, strategy="lora", optim={"max_epochs": 2, "batch_size": 1}))
    n_train = 6 * len(EMOTIONS)  # the fixture: 6 training utterances per emotion
    assert len(steps) == 2 * n_train and all(len(b) == 1 for b in seen)
    assert sorted(i for b in seen[:n_train] for i in b) == list(range(n_train))
    assert m["epochs"] == 2 and 0 <= m["ua"] <= 1


def test_pinned_layer_needs_no_layer_wise_result(job, tmp_path):
    """A pinned layer runs without best_layers.csv, is not read from it, and is recorded as pinned."""
    m = run_finetune(
        without_best_layers(
            make_job(job, tmp_path / "pin", strategy="frozen", optim={"max_epochs": 1}, layer=Layer(pinned=1))
        )
    )
    assert (m["layer"], m["layer_source"], m["layers_kept"]) == (1, "pinned", 1)  # best_layers.csv says 2
    with pytest.raises(ValueError, match=r"hidden states 0\.\.3 only"):
        run_finetune(without_best_layers(make_job(job, tmp_path / "high", strategy="frozen", layer=Layer(pinned=4))))
    with pytest.raises(ValueError, match="best_layers.csv is needed"):
        run_finetune(without_best_layers(make_job(job, tmp_path / "none", strategy="frozen")))


def test_cross_runs_validate_on_the_configured_corpus(job, tmp_path, monkeypatch):
    rec = Recorder(monkeypatch)
    for val_on, corpus in (("source", "CA"), ("target", "CB")):
        rec.calls.clear()
        m = run_finetune(
            make_job(job, tmp_path / val_on, strategy="frozen", optim={"max_epochs": 2}, cross_val_on=val_on)
        )
        assert m["val_corpus"] == corpus
        assert [n for n, _ in rec.calls] == [f"{corpus}:val"] * 2 + ["CB:test"]  # validation, then the test set
        assert m["val_ua"] == max(ua for _, ua in rec.calls[:2])


def test_layers_kept_k_plus_1_trains_lora_on_one_more_layer(job, tmp_path):
    from safetensors.torch import load_file

    names = {}
    for rule in ("k", "k+1"):
        m = run_finetune(make_job(job, tmp_path / rule, strategy="lora", optim={"max_epochs": 1}, layers_kept=rule))
        assert m["layer"] == 2 and m["layers_kept"] == {"k": 2, "k+1": 3}[rule]
        names[rule] = set(load_file(tmp_path / rule / "adapter.safetensors"))
    extra = names["k+1"] - names["k"]
    assert extra and all(".layers.2." in n and "lora_" in n for n in extra)  # LoRA on layer k (0-based) too
    assert names["k"] <= names["k+1"]


def test_same_seed_same_numbers_early_stopping_and_byte_identical_adapters(job, tmp_path):
    optim = {"max_epochs": 30, "patience": 1, "lr": 0.5}  # a huge lr: the val loss gets worse fast
    a = run_finetune(make_job(job, tmp_path / "a", strategy="frozen", optim=optim))
    b = run_finetune(make_job(job, tmp_path / "b", strategy="frozen", optim=optim))
    assert a["epochs"] < 30  # stopped early
    for k in ("ua", "wa", "macro_f1", "epochs", "best_epoch"):
        assert a[k] == b[k]
    pa, pb = (pd.read_csv(tmp_path / d / "predictions.csv") for d in "ab")
    pd.testing.assert_frame_equal(pa, pb)
    fa, fb = (tmp_path / d / "adapter.safetensors" for d in "ab")
    assert fa.read_bytes() == fb.read_bytes()
    umask = os.umask(0)
    os.umask(umask)
    assert fa.stat().st_mode & 0o777 == 0o666 & ~umask  # the usual mode, not mkstemp's 0600


def test_encoder_in_training_mode_is_seeded_too(job, tmp_path):
    # the checkpoint's hidden dropout, LayerDrop and time masking (attention dropout off: slow on CPU)
    model = tiny_model(
        tmp_path / "model",
        attention_dropout=0.0,
        hidden_dropout=0.1,
        layerdrop=0.1,
        mask_time_prob=0.05,
        mask_time_length=2,
    )
    a, b = (
        run_finetune(
            dataclasses.replace(
                make_job(job, tmp_path / d, strategy="lora", optim={"max_epochs": 2}, encoder_mode="train"),
                source=str(model),
            )
        )
        for d in "ab"
    )
    assert a["encoder_mode"] == "train"
    for k in ("ua", "val_ua", "best_epoch"):
        assert a[k] == b[k]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "a" / "predictions.csv"), pd.read_csv(tmp_path / "b" / "predictions.csv")
    )


def test_gradient_clipping_is_an_option(job, tmp_path, monkeypatch):
    seen = []
    real = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda p, v, *a, **k: seen.append(v) or real(p, v, *a, **k))
    m = run_finetune(make_job(job, tmp_path / "off", strategy="frozen", optim={"max_epochs": 1}, grad_clip=None))
    assert seen == [] and m["grad_clip"] is None
    run_finetune(make_job(job, tmp_path / "on", strategy="frozen", optim={"max_epochs": 1}, grad_clip=0.5))
    assert seen and set(seen) == {0.5}
    assert train_mod._half_dtype(torch.device("cpu"), "bf16") is None  # bf16 autocasts on CUDA only


def test_threads_come_from_the_settings_not_the_caller(job, tmp_path):
    before = torch.get_num_threads()
    runs = []
    try:
        for ambient in (2, 3):
            torch.set_num_threads(ambient)
            runs.append(
                run_finetune(
                    make_job(job, tmp_path / str(ambient), strategy="frozen", optim={"max_epochs": 2}, threads=1)
                )
            )
            assert torch.get_num_threads() == ambient  # restored afterwards
    finally:
        torch.set_num_threads(before)
    assert runs[0]["torch_threads"] == runs[1]["torch_threads"] == 1
    for k in ("ua", "val_ua", "best_epoch"):
        assert runs[0][k] == runs[1][k]


def test_listening_stimuli_scored_with_the_best_checkpoint_and_marked_when_trained_on(job, tmp_path):
    # stimuli of CB: two of its test utterances and two of its training utterances
    ids = ["CB_angry_test0", "CB_sad_test1", "CB_happy_train0", "CB_neutral_train3"]
    lst = tmp_path / "CB.listening.csv"
    pd.DataFrame({"utt_id": ids, "emotion": [i.split("_")[1] for i in ids], "speaker": "s1"}).to_csv(lst, index=False)
    m = run_finetune(
        make_job(
            job,
            tmp_path / "trans",
            strategy="lora",
            train="CB",
            test="CB",
            setting="trans",
            optim={"max_epochs": 2},
            listening=str(lst),
        )
    )
    stim = pd.read_csv(tmp_path / "trans" / "stimuli.csv")
    assert list(stim.columns) == ["utt_id", "true", "pred"] + [f"p_{e}" for e in EMOTIONS] + ["in_train"]
    assert stim["utt_id"].tolist() == ids and stim["true"].tolist() == ["angry", "sad", "happy", "neutral"]
    assert stim["in_train"].tolist() == [False, False, True, True] and m["stimuli_in_train"] == 2
    # the same (best) weights as the test predictions: identical rows for the shared utterances
    pred = pd.read_csv(tmp_path / "trans" / "predictions.csv").set_index("utt_id")
    shared = stim.set_index("utt_id").loc[ids[:2], pred.columns]
    pd.testing.assert_frame_equal(shared, pred.loc[ids[:2]], check_exact=False, rtol=1e-5)
    # a cross run never trains on the test corpus
    run_finetune(make_job(job, tmp_path / "cross", strategy="frozen", optim={"max_epochs": 1}, listening=str(lst)))
    assert not pd.read_csv(tmp_path / "cross" / "stimuli.csv")["in_train"].any()
    bad = tmp_path / "bad.listening.csv"
    bad.write_text("utt_id,emotion\nCB_angry_test0,angry\nghost,sad\n")
    with pytest.raises(InputError, match=r"bad\.listening\.csv, line 3: stimulus 'ghost'"):
        run_finetune(make_job(job, tmp_path / "bad", strategy="frozen", listening=str(bad)))


class Killed(Exception):
    pass


def _run_killed_after(job, args, monkeypatch, epochs: int) -> None:
    """Run until `epochs` epochs are checkpointed, then die (as a kill would: no outputs)."""
    real = train_mod.Trainer._save

    def save(self):
        real(self)
        if self.state["total_epochs"] >= epochs:
            raise Killed

    with monkeypatch.context() as mp:
        mp.setattr(train_mod.Trainer, "_save", save)
        with pytest.raises(Killed):
            run_finetune(args)
    assert (Path(args.checkpoint_dir) / "last.pt").exists() and not Path(args.outputs.metrics).exists()


def test_resume_only_what_this_job_computed_with(job, tmp_path, monkeypatch):
    args = make_job(job, tmp_path, strategy="frozen", optim={"max_epochs": 3})
    # unchanged, or a setting that only other strategies use (LoRA sizes for a frozen job): resumed
    _run_killed_after(job, args, monkeypatch, 1)
    assert run_finetune(dataclasses.replace(args, lora=Lora(r=64, alpha=1, dropout=0.0)))["resumed_from_epoch"] == 1
    # an input rewritten since (Snakemake re-ran what made it: --forceall), other code, or another
    # setting of this job: started over
    for change in ("input", "code", "setting"):
        a = make_job(job, tmp_path / change, strategy="frozen", optim={"max_epochs": 3})
        _run_killed_after(job, a, monkeypatch, 1)
        with monkeypatch.context() as mp:
            if change == "input":
                st = os.stat(job["splits"][1])
                os.utime(job["splits"][1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
            elif change == "code":
                mp.setattr(train_mod, "code_version", lambda: "other code")
            else:
                a = dataclasses.replace(a, settings=dataclasses.replace(SETTINGS, max_batch_seconds=50.0))
            res = run_finetune(a)
        assert res["resumed_from_epoch"] is None and res["epochs"] == 3, change


def test_forced_rerun_starts_over_instead_of_resuming(job, tmp_path, monkeypatch):
    """`fresh_start` (a forced re-run: -F, -R finetune) discards a matching leftover checkpoint."""
    args = make_job(job, tmp_path, strategy="frozen", optim={"max_epochs": 3})
    _run_killed_after(job, args, monkeypatch, 1)
    res = run_finetune(dataclasses.replace(args, fresh_start=True))
    assert res["resumed_from_epoch"] is None and res["epochs"] == 3


def test_forced_rerun_is_read_from_snakemakes_dag_settings():
    from types import SimpleNamespace

    from xlser.smk import forced_rerun

    def dag(forceall=False, forcerun=()):
        return SimpleNamespace(forceall=forceall, forcerun=frozenset(forcerun))

    assert not forced_rerun(None, "finetune", "results/peft/")
    assert not forced_rerun(dag(), "finetune", "results/peft/")
    assert not forced_rerun(dag(forcerun={"probe_layers", "results/layerwise/x.csv"}), "finetune", "results/peft/")
    assert forced_rerun(dag(forceall=True), "finetune", "results/peft/")
    assert forced_rerun(dag(forcerun={"finetune"}), "finetune", "results/peft/")
    assert forced_rerun(dag(forcerun={"results/peft/M/A__A/lora/fold0/metrics.json"}), "finetune", "results/peft/")


_CHILD = """
import json, sys, torch
torch.set_num_threads(1)
from xlser.peft.job import FinetuneJob
from xlser.peft.train import run_finetune
run_finetune(FinetuneJob.from_dict(json.loads(sys.argv[1])))
"""


def test_kill_and_resume_ends_like_an_uninterrupted_run(job, tmp_path):
    ref = run_finetune(make_job(job, tmp_path / "ref", optim={"max_epochs": 8}))
    args = make_job(job, tmp_path / "run", optim={"max_epochs": 8})
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(args.as_dict())],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    progress = tmp_path / "run" / "ckpt" / "progress.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if progress.exists() and json.loads(progress.read_text())["total_epochs"] >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(progress.read_text())["total_epochs"]
    assert 2 <= killed_at < 8 and not Path(args.outputs.metrics).exists()
    res = run_finetune(args)
    assert res["resumed_from_epoch"] == killed_at
    for k in ("ua", "wa", "macro_f1", "epochs", "best_epoch", "val_ua", "trainable_params"):
        assert res[k] == ref[k], k
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "ref" / "predictions.csv"), pd.read_csv(tmp_path / "run" / "predictions.csv")
    )
    assert (tmp_path / "ref" / "adapter.safetensors").read_bytes() == (
        tmp_path / "run" / "adapter.safetensors"
    ).read_bytes()


def test_bad_inputs_name_file_and_line(job, tmp_path):
    with pytest.raises(InputError, match="no row for model=M, train=CB, test=CA"):
        best_layer(job["best"], "M", "CB", "CA")
    bad = tmp_path / "best.csv"
    bad.write_text("model,setting,train,test,layer\nM,mono,CA,CA,x\n")
    with pytest.raises(InputError, match=r"best\.csv, line 2: layer 'x'"):
        best_layer(bad, "M", "CA", "CA")
    with pytest.raises(InputError, match="cannot tell the corpus"):
        corpus_files(["somewhere/manifest.csv"], [])
    spl = tmp_path / "results" / "splits" / "CA.csv"
    spl.parent.mkdir(parents=True)
    spl.write_text("utt_id,fold,partition\nCA_angry_train0,0,train\nghost,0,train\n")
    with pytest.raises(InputError, match=r"CA\.csv, line 3: utt_id 'ghost'"):
        load_partition(job["manifests"][0], str(spl), 0, "train", EMOTIONS)


def test_a_non_finite_loss_stops_the_job_and_writes_nothing(job, tmp_path, monkeypatch):
    """A NaN validation loss (a diverged model, a NaN input) would leave early stopping
    counting 'no improvement' and the job ending with chance-level scores: it stops instead."""
    real = train_mod.predict

    def nan_loss(*a, **kw):
        probs, _ = real(*a, **kw)
        return probs, float("nan")

    monkeypatch.setattr(train_mod, "predict", nan_loss)
    args = make_job(job, tmp_path)
    with pytest.raises(InputError, match=r"epoch 1: training / validation loss: 1 of 2 values are NaN or inf"):
        run_finetune(args)
    assert not Path(args.outputs.metrics).exists() and not Path(args.outputs.predictions).exists()


def _metrics(dirpath: Path, **kw) -> str:
    m = {
        "model": "W2V2-CN",
        "setting": "cross",
        "train": "DEMO-CN",
        "test": "DEMO-DE",
        "strategy": "lora",
        "fold": 0,
        "layer": 3,
        "ua": 0.5,
        "wa": 0.5,
        "macro_f1": 0.4,
        "epochs": 5,
        "train_lang": "CN",
        "test_lang": "DE",
    }
    m.update(kw)
    p = dirpath / f"{m['model']}_{m['train']}_{m['test']}_{m['strategy']}_{m['fold']}.json"
    p.write_text(json.dumps(m))
    return str(p)


def test_table1_means_stds_and_the_studys_numbers(tmp_path):
    from xlser.peft.table1 import table1

    paths = [
        _metrics(tmp_path, fold=0, ua=0.60),
        _metrics(tmp_path, fold=1, ua=0.70),
        _metrics(tmp_path, strategy="frozen", ua=0.55),
        _metrics(
            tmp_path, train="X", test="X", setting="mono", train_lang="CN", test_lang="CN", strategy="frozen", ua=0.9
        ),
        _metrics(
            tmp_path,
            model="OTHER",
            setting="mono",
            train="X",
            test="X",
            train_lang="CN",
            test_lang="CN",
            strategy="frozen",
            ua=0.8,
        ),
    ]
    summary = table1(paths, tmp_path / "t1.csv")  # the study's numbers: the package's own table
    csv = pd.read_csv(tmp_path / "t1.csv")
    lora = csv[(csv["strategy"] == "lora") & (csv["setting"] == "cross")].iloc[0]
    assert lora["ua_mean"] == pytest.approx(0.65) and lora["ua_std"] == pytest.approx(np.std([0.6, 0.7], ddof=1))
    assert lora["n_folds"] == 2 and lora["study_ua"] == pytest.approx(0.653)  # W2V2-CN cross CN->DE lora: 65.3
    mono = csv[(csv["model"] == "W2V2-CN") & (csv["setting"] == "mono")].iloc[0]
    assert mono["study_ua"] == pytest.approx(0.914)  # matched by languages, not corpus names
    assert pd.isna(csv[csv["model"] == "OTHER"]["study_ua"].iloc[0])
    assert list(csv["setting"]) == ["mono", "mono", "cross", "cross"]  # the study's order
    md = (tmp_path / "t1.md").read_text()
    assert "65.0 ± 7.1" in md and "| 65.3 |" in md and "CN → DE (DEMO-CN → DEMO-DE)" in md
    tex = (tmp_path / "t1.tex").read_text()
    assert "\\toprule" in tex and "65.0" in tex
    assert len(summary) == 4


def test_job_settings_carry_only_what_the_job_uses():
    from xlser.config import validate_config
    from xlser.peft.settings import as_params, job_settings

    cfg = {
        "corpora": {"A": {"format": "csv", "root": "/x", "lang": "CN", "table": "t.csv"}},
        "splits": {"train_per_emotion": 4, "val": 4, "test": 4, "folds": 1},
        "peft": {"strategies": ["frozen"]},
    }
    validate_config(cfg)  # the schema's defaults: the careful researcher's choices
    peft = cfg["peft"]

    def one(strategy, train="A", test="A", val_on="target"):
        return job_settings(peft, strategy=strategy, train=train, test=test, cross_val_on=val_on, threads=3)

    ft, lora, adapter = one("frozen")
    assert (ft.layers_kept, ft.encoder_mode, ft.precision, ft.grad_clip, ft.threads) == ("k", "eval", "bf16", 1.0, 3)
    assert lora is None and adapter is None and ft.two_stage_schedule is None and ft.cross_val_on is None
    ft, lora, adapter = one("lora", test="B")
    assert lora == Lora(8, 16.0, 0.1) and adapter is None and ft.cross_val_on == "target"
    ft, lora, adapter = one("two_stage")
    assert ft.two_stage_schedule == "stagewise" and adapter == Adapter(16) and lora is not None
    # another strategy's or experiment's settings never reach a job's params
    other = dict(peft, lora={"r": 64, "alpha": 1, "dropout": 0.0}, two_stage={"schedule": "study"})
    assert as_params(
        job_settings(other, strategy="frozen", train="A", test="B", cross_val_on="target", threads=3)[0]
    ) == as_params(one("frozen", test="B")[0])
    with pytest.raises(ValueError, match="precision"):
        dataclasses.replace(ft, precision="fp16")


def test_standardize_fixes_the_head_input_to_the_training_statistics(job, tmp_path, monkeypatch):
    """`peft.standardize`: the head sees (pooled - mean) / std, with the training partition's
    statistics under the initial model, computed once and saved with the adapter."""
    from safetensors.torch import load_file

    seen = {}
    real = train_mod.input_stats

    def spy(model, part, *a, **k):
        seen["part"] = part.name
        seen["stats"] = real(model, part, *a, **k)
        return seen["stats"]

    monkeypatch.setattr(train_mod, "input_stats", spy)
    run_finetune(make_job(job, tmp_path / "std", strategy="frozen", optim={"max_epochs": 2}, standardize=True))
    saved = load_file(str(tmp_path / "std" / "adapter.safetensors"))
    assert "CA" in seen["part"] and "train" in seen["part"]
    torch.testing.assert_close(saved["in_mean"], seen["stats"][0])
    torch.testing.assert_close(saved["in_std"], seen["stats"][1].clamp(min=1e-5))
    assert saved["in_mean"].abs().max() > 0 and not torch.allclose(saved["in_std"], torch.ones_like(saved["in_std"]))
    seen.clear()
    run_finetune(make_job(job, tmp_path / "raw", strategy="frozen", optim={"max_epochs": 2}, standardize=False))
    raw = load_file(str(tmp_path / "raw" / "adapter.safetensors"))
    assert not seen and (raw["in_mean"] == 0).all() and (raw["in_std"] == 1).all()


def test_head_input_standardisation_is_a_fixed_affine_map(tmp_path):
    from xlser.models.loading import load_encoder
    from xlser.peft.modules import build_model

    torch.manual_seed(0)
    net = build_model(load_encoder(str(tiny_model(tmp_path / "m")), "cpu"), 1, "frozen", 4, "linear")
    x = torch.randn(2, 4000)
    lengths = torch.tensor([4000, 3000])
    pooled = net.pooled(x, lengths)
    mean, std = pooled.mean(0).detach(), pooled.std(0).detach() + 0.5
    net.set_input_stats(mean, std)
    torch.testing.assert_close(net(x, lengths), net.head((pooled - mean) / std))
    assert not any(n in dict(net.named_parameters()) for n in ("in_mean", "in_std"))  # never trained


def test_a_layer_wise_result_choosing_layer_0_runs_each_strategy_as_itself(job, tmp_path):
    """The layer-wise stage chooses layer 0 (the CNN's output), where layers_kept: k keeps no
    transformer layer. `frozen` runs there; lora and lora+ba+wg run at the best layer >= 1
    (`peft.adapting_layer: adaptable`, best_layers.csv's `layer_ge1`) and train what they add;
    Table I shows each strategy as itself, with its layer and trainable parameters. Reading the
    best of all for lora (`adapting_layer: best`) fails, naming best_layers.csv and the layer."""
    from xlser.io import write_csv
    from xlser.layerwise.summary import best_layers, summarise
    from xlser.peft.settings import job_layer
    from xlser.peft.table1 import table1

    val = {0: 0.9, 1: 0.5, 2: 0.7, 3: 0.6}
    probes = pd.DataFrame(
        [
            {
                "model": "M",
                "setting": "mono",
                "train": "CA",
                "test": "CA",
                "fold": f,
                "layer": k,
                "ua": 0.5,
                "wa": 0.5,
                "macro_f1": 0.5,
                "val_ua": val[k],
                "epochs": 5,
            }
            for f in (0, 1)
            for k in range(4)
        ]
    )
    best = tmp_path / "best_layers.csv"
    write_csv(best_layers(summarise(probes)).round(6), best)
    peft = {"layers_kept": "k", "adapting_layer": "adaptable", "two_stage": {"layer_from": "trans"}}
    out, paths = {}, []
    for s in ("frozen", "lora", "lora+ba+wg"):
        lay = job_layer(
            peft, model="M", train="CA", test="CA", strategy=s, source_corpus="CA", layerwise={("M", "CA", "CA")}
        )
        j = make_job(
            job, tmp_path / s, strategy=s, train="CA", test="CA", setting="mono", optim={"max_epochs": 2}, layer=lay
        )
        j = dataclasses.replace(j, inputs=dataclasses.replace(j.inputs, best_layers=str(best)))
        out[s] = run_finetune(j)
        paths.append(j.outputs.metrics)
    assert (out["frozen"]["layer"], out["frozen"]["layers_kept"], out["frozen"]["layer_source"]) == (0, 0, "chosen")
    for s in ("lora", "lora+ba+wg"):
        assert (out[s]["layer"], out[s]["layers_kept"], out[s]["layer_source"]) == (2, 2, "chosen>=1")
    params = [out[s]["trainable_params"] for s in ("frozen", "lora", "lora+ba+wg")]
    assert params == sorted(set(params))  # each strategy trains more than the one before: none is `frozen`
    table1(paths, tmp_path / "t1")
    (row,) = md_rows((tmp_path / "t1.md").read_text())
    assert row["Layer"] == "0 (chosen): frozen; 2 (chosen>=1): lora, lora+ba+wg"
    assert [row[f"{s} params"] for s in ("frozen", "lora", "lora+ba+wg")] == [f"{p:,}" for p in params]
    j = make_job(job, tmp_path / "best", strategy="lora", train="CA", test="CA", setting="mono")
    j = dataclasses.replace(j, inputs=dataclasses.replace(j.inputs, best_layers=str(best)))
    with pytest.raises(InputError, match=r"best_layers\.csv.*lora M CA -> CA: layer 0 \(chosen\).*nothing to adapt"):
        run_finetune(j)
    assert not (tmp_path / "best" / "metrics.json").exists()
    # where the best layer of all keeps one, lora runs there too, recorded as plainly chosen
    from xlser.peft.train import resolve_layer

    restricted = dataclasses.replace(j, layer=Layer(row=("M", "CA", "CA"), column="layer_ge1"))
    assert resolve_layer(restricted) == (2, "chosen>=1")
    probes.loc[probes["layer"] == 0, "val_ua"] = 0.1
    write_csv(best_layers(summarise(probes)).round(6), best)
    assert resolve_layer(restricted) == (2, "chosen")


def md_rows(text: str) -> list[dict[str, str]]:
    """The rows of the one pipe table of a Markdown text, as {header: cell}."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    return [dict(zip(cells[0], r)) for r in cells[2:]]
