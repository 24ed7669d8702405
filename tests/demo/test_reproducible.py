"""The demo is a function of its config: a demo corpus and a pre-trained demo model built twice,
in separate processes started in different seconds and computing with different thread counts,
are byte-identical (issue 30: eSpeak NG's breath noise drew from a clock-seeded generator, so
DEMO-CN speaker 0003 (`f2`) and the pre-trained checkpoints differed from run to run)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

CORPUS = r"""
import json, sys
from xlser.demo.corpora import build_demo_corpus
out, = sys.argv[1:]
cfg = {"format": "esd", "root": out, "lang": "CN", "split_by": "speaker"}
# speakers 0001-0003: voice variants f1, m1 and f2 (breath noise)
build_demo_corpus(out, "X", {"voice": "cmn", "speakers": 3, "per_speaker_emotion": 1}, cfg,
                  ["angry", "happy", "neutral", "sad"], 22050, seed=7)
"""

MODEL = r"""
import sys
import torch
out, threads = sys.argv[1:]
torch.set_num_threads(int(threads))  # what the job would hold: pre-training must not follow it
from xlser.demo.pretrain import pretrain_demo_model
spec = {"type": "wav2vec2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "conv_dim": 16, "feat_extract_norm": "layer", "initializer_range": 0.02,
        "seed": 3, "voice": "en"}
pretrain_demo_model(out + "/model", spec, steps=2, batch_size=4, lr=5e-3, voices=["f2", "m1"],
                    curve_csv=out + "/curve.csv")
"""


def _run(code: str, threads: int, *args: str) -> None:
    """`code` in a fresh interpreter with `threads` OpenMP/torch threads, after the clock's
    second has turned (eSpeak NG seeds its own generator from the clock at start-up)."""
    time.sleep(1.05 - time.time() % 1)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_demo_corpus_is_the_same_in_every_run_and_on_any_core_count(tmp_path: Path) -> None:
    for run, threads in (("a", 1), ("b", 2)):
        _run(CORPUS, threads, str(tmp_path / run))
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert any("/0003/" in f"/{p}" for p in a), sorted(a)[:5]  # the f2 speaker is there
    assert a == b, sorted(k for k in a if a[k] != b.get(k))


def test_pretrained_demo_model_is_the_same_in_every_run_and_on_any_core_count(tmp_path: Path) -> None:
    for run, threads in (("a", 1), ("b", 2)):
        _run(MODEL, threads, str(tmp_path / run), str(threads))
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert "model/model.safetensors" in a and json.loads((tmp_path / "a/model/pretraining.json").read_text())
    assert a == b, sorted(k for k in a if a[k] != b.get(k))


def test_float_wav_written_twice_is_the_same_file(tmp_path: Path) -> None:
    """libsndfile stamps float WAVs' PEAK chunk with the time of writing (the resampled corpora
    differed in two bytes from run to run); xlser.data.audio.save_audio writes the stamp as 0."""
    import numpy as np

    from xlser.data.audio import load_audio, save_audio

    wav = (0.5 * np.sin(np.arange(8000) / 7)).astype(np.float32)
    save_audio(tmp_path / "a.wav", wav, 16000)
    time.sleep(1.05 - time.time() % 1)
    save_audio(tmp_path / "b.wav", wav, 16000)
    a = (tmp_path / "a.wav").read_bytes()
    assert b"PEAK" in a and a == (tmp_path / "b.wav").read_bytes()
    assert np.array_equal(load_audio(tmp_path / "a.wav")[0], wav)
