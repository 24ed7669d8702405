"""Fine-tuning jobs end to end on tiny fixtures: outputs, two-stage, kill-and-resume, Table I."""

from __future__ import annotations

import json
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

from xlser.errors import InputError
from xlser.peft.data import corpus_files, load_partition
from xlser.peft.train import best_layer, run_finetune

EMOTIONS = ["angry", "happy", "neutral", "sad"]
PITCH = {"angry": 300.0, "happy": 450.0, "neutral": 150.0, "sad": 100.0}
ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)  # tiny models: more threads only contend (and the kill test needs a slow-enough child)


def tiny_model(path: Path, stable: bool = True) -> Path:
    """A tiny random wav2vec2 (the demo's kind: stable layer norm, attention mask) on disk."""
    torch.manual_seed(0)
    cfg = T.Wav2Vec2Config(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                           conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16,
                           num_conv_pos_embedding_groups=2, do_stable_layer_norm=stable,
                           feat_extract_norm="layer" if stable else "group")
    T.Wav2Vec2Model(cfg).save_pretrained(path)
    T.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                               return_attention_mask=stable).save_pretrained(path)
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
                rows.append({"utt_id": uid, "corpus": name, "lang": lang, "speaker": "s1", "emotion": e,
                             "path": str(wavdir / f"{uid}.wav"), "duration_s": t.size / 16000, "sample_rate": 16000})
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
    pd.DataFrame([{"model": "M", "setting": "cross", "train": "CA", "test": "CB", "layer": 2, "val_ua": 0.5,
                   "test_ua": 0.5, "test_ua_std": 0.0},
                  {"model": "M", "setting": "trans", "train": "CB", "test": "CB", "layer": 1, "val_ua": 0.5,
                   "test_ua": 0.5, "test_ua_std": 0.0}]).to_csv(best, index=False)
    return {"root": root, "model": str(model), "manifests": [a[0], b[0]], "splits": [a[1], b[1]], "best": str(best)}


PEFT = {"batch_size": 8, "lr": 5e-3, "eps": 1e-8, "weight_decay": 1e-5, "max_epochs": 6, "patience": 10,
        "grad_clip": 1.0, "seed": 3, "lora": {"r": 2, "alpha": 4, "dropout": 0.1}, "adapter": {"reduction": 16},
        "max_batch_seconds": 100.0}


def kwargs(job, out: Path, strategy="lora+ba+wg", train="CA", test="CB", setting="cross", peft=PEFT):
    return dict(best_layers=job["best"], source=job["model"], manifests=job["manifests"], splits=job["splits"],
                model="M", train=train, test=test, strategy=strategy, fold=0, setting=setting, stage_corpus="CA",
                peft=peft, head="linear", emotions=EMOTIONS, device="cpu", checkpoint_dir=str(out / "ckpt"),
                out_metrics=str(out / "metrics.json"), out_predictions=str(out / "predictions.csv"),
                out_adapter=str(out / "adapter.safetensors"))


def test_job_outputs_follow_the_contract(job, tmp_path):
    from safetensors.torch import load_file

    res = run_finetune(**kwargs(job, tmp_path))
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m == json.loads(json.dumps(res))
    for key in ("model", "setting", "train", "test", "strategy", "fold", "layer", "ua", "wa", "macro_f1", "epochs",
                "best_epoch", "trainable_params", "total_params", "wall_time_s"):
        assert key in m
    assert m["layer"] == 2 and m["epochs"] == 6 and 1 <= m["best_epoch"] <= 6
    assert (m["train_lang"], m["test_lang"]) == ("CN", "DE")
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
    assert sum(v.numel() for v in weights.values()) == m["trainable_params"]
    assert all(("lora_" in k) or ("bottleneck_adapter" in k) or ("input_gate" in k) or k.startswith("head.")
               for k in weights)
    assert not (tmp_path / "ckpt").exists()  # deleted after success


def test_two_stage_trains_the_stage_corpus_first_then_resets_early_stopping(job, tmp_path):
    peft = dict(PEFT, max_epochs=3)
    m = run_finetune(**kwargs(job, tmp_path, strategy="two_stage", train="CB", test="CB", setting="trans", peft=peft))
    assert m["layer"] == 1
    assert m["stage_epochs"] == [3, 3] and m["epochs"] == 6  # each stage gets its own early stopping/epoch budget
    assert m["stage_corpus"] == "CA" and 1 <= m["best_epoch"] <= 3


def test_same_seed_same_numbers_and_early_stopping(job, tmp_path):
    peft = dict(PEFT, max_epochs=30, patience=1, lr=0.5)  # a huge lr: the val loss gets worse fast
    a = run_finetune(**kwargs(job, tmp_path / "a", strategy="frozen", peft=peft))
    b = run_finetune(**kwargs(job, tmp_path / "b", strategy="frozen", peft=peft))
    assert a["epochs"] < 30  # stopped early
    for k in ("ua", "wa", "macro_f1", "epochs", "best_epoch"):
        assert a[k] == b[k]
    pa, pb = (pd.read_csv(tmp_path / d / "predictions.csv") for d in "ab")
    pd.testing.assert_frame_equal(pa, pb)


_CHILD = """
import json, sys, torch
torch.set_num_threads(1)
from xlser.peft.train import run_finetune
run_finetune(**json.loads(sys.argv[1]))
"""


def test_kill_and_resume_ends_like_an_uninterrupted_run(job, tmp_path):
    peft = dict(PEFT, max_epochs=8)
    ref = run_finetune(**kwargs(job, tmp_path / "ref", peft=peft))
    args = kwargs(job, tmp_path / "run", peft=peft)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    assert 2 <= killed_at < 8 and not Path(args["out_metrics"]).exists()
    res = run_finetune(**args)
    assert res["resumed_from_epoch"] == killed_at
    for k in ("ua", "wa", "macro_f1", "epochs", "best_epoch", "val_ua", "trainable_params"):
        assert res[k] == ref[k], k
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ref" / "predictions.csv"),
                                  pd.read_csv(tmp_path / "run" / "predictions.csv"))


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


def _metrics(dirpath: Path, **kw) -> str:
    m = {"model": "W2V2-CN", "setting": "cross", "train": "DEMO-CN", "test": "DEMO-DE", "strategy": "lora",
         "fold": 0, "layer": 3, "ua": 0.5, "wa": 0.5, "macro_f1": 0.4, "epochs": 5, "train_lang": "CN",
         "test_lang": "DE"}
    m.update(kw)
    p = dirpath / f"{m['model']}_{m['train']}_{m['test']}_{m['strategy']}_{m['fold']}.json"
    p.write_text(json.dumps(m))
    return str(p)


def test_table1_means_stds_and_the_studys_numbers(tmp_path):
    from xlser.peft.table1 import table1

    paths = [_metrics(tmp_path, fold=0, ua=0.60), _metrics(tmp_path, fold=1, ua=0.70),
             _metrics(tmp_path, strategy="frozen", ua=0.55),
             _metrics(tmp_path, train="X", test="X", setting="mono", train_lang="CN", test_lang="CN",
                      strategy="frozen", ua=0.9),
             _metrics(tmp_path, model="OTHER", setting="mono", train="X", test="X", train_lang="CN",
                      test_lang="CN", strategy="frozen", ua=0.8)]
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
