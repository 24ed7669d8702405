"""Benchmark (prints figures; not a test): feature extraction and the layer-wise probing grid.

(a) Real-time factor (compute seconds per second of audio; its inverse is "x real time") of
    extracting all 13 pooled hidden states of a base-size group-norm wav2vec2 (stock
    `Wav2Vec2Config()`: 768-dim, 12 layers, random weights; feature extractor without
    attention mask, as the study's checkpoints) on 20 utterances of 1.5-5 s: one utterance
    per forward pass (how the study ran) vs exact batches (`xlser.models.encoder`: length-bucketed,
    per-utterance normalisation, masked group norm, masked transformer), with the largest
    deviation between the two. On CPU always; on CUDA, where present, in fp32 and bf16
    (`--gpu-seconds` of audio there).
(b) The study's probing grid (3 models x 13 layers x 3 settings x 5 folds, 1,600/200/200
    utterances, 768-dim cached features): the batched all-layer probe against the naive plan
    of re-extracting features for every layer and probing one layer at a time. Only one
    (model, setting, fold) is trained, for a few epochs without early stopping; times are
    scaled per epoch to 100 epochs (the study's maximum: an upper bound for both plans).

Run: .venv/bin/python benchmarks/bench_features.py   (about 2-4 minutes on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from xlser.config import schema_defaults
from xlser.layerwise.features import encode_batch, one_per_pass
from xlser.layerwise.probe import ProbeConfig, train_probes
from xlser.models.batching import length_buckets
from xlser.models.encoder import batch_mode

SR = 16000
BUDGET_S = 16.0  # padded seconds per batch, both batching plans
MODELS, LAYERS, SETTINGS, FOLDS = 3, 13, 3, 5
N_TRAIN, N_VAL, N_TEST = 1600, 200, 200
BENCH_EPOCHS, STUDY_EPOCHS = 5, 100


def speech_like(n: int, rng: np.random.Generator) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic signal with noise (content does not matter for timing)."""
    t = np.arange(n) / SR
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    wav = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.1 * wav + 0.01 * rng.standard_normal(n)).astype(np.float32)


def make_corpus(folder: Path, n: int = 20, total_s: float = 60.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = rng.uniform(1.5, 5.0, n)
    d = np.clip(d * total_s / d.sum(), 1.5, 5.0)
    rows = []
    for i, s in enumerate(d):
        path = folder / f"u{i:02d}.wav"
        sf.write(path, speech_like(int(s * SR), rng), SR, subtype="FLOAT")
        rows.append({"utt_id": f"u{i:02d}", "path": str(path), "duration_s": round(float(s), 4)})
    return pd.DataFrame(rows)


def save_base(folder: Path) -> str:
    """Stock wav2vec2-base config (group-norm CNN), saved as a checkpoint is: no mask, do_normalize."""
    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=SR, do_normalize=True, return_attention_mask=False).save_pretrained(folder)
    return str(folder)


def time_plan(
    model: torch.nn.Module, fe, wavs: list[np.ndarray], batches: list[list[int]], device: torch.device, precision: str
) -> tuple[float, np.ndarray]:
    """Seconds to encode every batch (model and audio preloaded) and the pooled features (n, 13, 768)."""
    out = np.zeros((len(wavs), 13, 768), dtype=np.float32)
    encode_batch(model, fe, [wavs[i] for i in batches[0]], device, precision)  # warm-up (allocator, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for b in batches:
        out[b] = encode_batch(model, fe, [wavs[i] for i in b], device, precision).cpu().numpy()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t, out


def part_a(tmp: Path, gpu_seconds: float, budget_gpu: float) -> float:
    src = save_base(tmp / "gn")
    fe = Wav2Vec2FeatureExtractor.from_pretrained(src)
    runs = [("cpu", "fp32", 60.0, BUDGET_S)]
    if torch.cuda.is_available():
        runs += [("cuda", "fp32", gpu_seconds, budget_gpu), ("cuda", "bf16", gpu_seconds, budget_gpu)]
    else:
        print("(a) no CUDA device here: GPU figures not measured")
    t_utt = 0.0
    for dev_name, precision, seconds, budget in runs:
        device = torch.device(dev_name)
        folder = tmp / f"audio_{int(seconds)}"
        folder.mkdir(exist_ok=True)
        man = make_corpus(folder, n=max(20, int(seconds / 3)), total_s=seconds)
        d = man["duration_s"].to_numpy()
        wavs = [sf.read(p, dtype="float32")[0] for p in man["path"]]
        model = Wav2Vec2Model.from_pretrained(src).to(device).eval()
        mode = batch_mode(model)
        name = (
            torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        )
        print(
            f"(a) extraction, group-norm wav2vec2-base (random init), {len(d)} utterances, {d.sum():.1f} s of audio, "
            f"{name}, {precision}, exact mode '{mode}', budget {budget:.0f} padded s/batch"
        )
        t1, one = time_plan(model, fe, wavs, [[i] for i in range(len(d))], device, precision)
        tb, batched = time_plan(model, fe, wavs, length_buckets(d, budget), device, precision)
        dev_rel = float(np.abs(batched - one).max() / np.abs(one).max())
        print(f"    one utterance per pass : {t1:7.2f} s  RTF {t1 / d.sum():.4f}  ({d.sum() / t1:8.1f}x real time)")
        print(
            f"    exact batches          : {tb:7.2f} s  RTF {tb / d.sum():.4f}  ({d.sum() / tb:8.1f}x real time), "
            f"speed-up x{t1 / tb:.2f}, max deviation from one-by-one {dev_rel:.1e} (relative)",
            flush=True,
        )
        auto = "one utterance per pass" if one_per_pass("auto", device, mode) else "exact batches"
        print(
            f"    features.batching: auto on {dev_name} runs {auto}; time one-per-pass / batched = "
            f"{t1 / tb:.2f} (> 1: batches pay)",
            flush=True,
        )
        if dev_name == "cpu":
            t_utt = (t1 if one_per_pass("auto", device, mode) else tb) / len(d)  # what `auto` extracts with
        del model
    return t_utt  # per-utterance extraction cost on CPU, for (b)


def part_b(t_utt: float) -> None:
    rng = np.random.default_rng(0)
    n = N_TRAIN + N_VAL + N_TEST
    y = rng.integers(0, 4, n)
    X = rng.standard_normal((n, LAYERS, 768)).astype(np.float16)
    X[:, :, :4] += np.eye(4, dtype=np.float16)[y][:, None, :]
    tr, va = slice(0, N_TRAIN), slice(N_TRAIN, N_TRAIN + N_VAL)
    cfg = ProbeConfig.from_section(
        schema_defaults("probe") | {"lr": 1e-3, "max_epochs": BENCH_EPOCHS, "patience": 10**6}
    )
    t = time.perf_counter()
    res = train_probes(X[tr], y[tr], X[va], y[va], 4, cfg)
    res.predict_proba(X[N_TRAIN + N_VAL :])
    t_all = (time.perf_counter() - t) / BENCH_EPOCHS * STUDY_EPOCHS
    t = time.perf_counter()
    res1 = train_probes(X[tr, 6:7], y[tr], X[va, 6:7], y[va], 4, cfg, layer_ids=[6])
    res1.predict_proba(X[N_TRAIN + N_VAL :, 6:7])
    t_one = (time.perf_counter() - t) / BENCH_EPOCHS * STUDY_EPOCHS
    runs = MODELS * SETTINGS * FOLDS
    extract_once = MODELS * n * t_utt  # every utterance once per model (features cached)
    batched = extract_once + runs * t_all
    naive = MODELS * LAYERS * SETTINGS * FOLDS * (n * t_utt + t_one)
    print(
        f"(b) probing grid {MODELS} models x {LAYERS} layers x {SETTINGS} settings x {FOLDS} folds, "
        f"{N_TRAIN}/{N_VAL}/{N_TEST} utterances, 768-dim; measured {BENCH_EPOCHS} epochs of one "
        f"(model, setting, fold), scaled to {STUDY_EPOCHS} epochs"
    )
    print(
        f"    batched probe, all 13 layers, one run   : {t_all:7.1f} s   (single layer alone: {t_one:.1f} s; "
        f"13 separate runs {LAYERS * t_one:.1f} s)"
    )
    print(f"    extraction per utterance (CPU, (a))     : {t_utt:7.3f} s")
    print(
        f"    batched plan: extract once + {runs} probe runs = {extract_once / 3600:.2f} h + "
        f"{runs * t_all / 3600:.2f} h = {batched / 3600:.2f} h"
    )
    print(f"    naive plan: re-extract per layer/setting/fold + 1-layer probe = {naive / 3600:.1f} h")
    print(f"    ratio naive / batched = {naive / batched:.0f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu-seconds", type=float, default=600.0, help="audio seconds timed on CUDA")
    ap.add_argument("--gpu-budget", type=float, default=400.0, help="padded seconds per batch on CUDA")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        t_utt = part_a(Path(d), args.gpu_seconds, args.gpu_budget)
    part_b(t_utt)


if __name__ == "__main__":
    main()
