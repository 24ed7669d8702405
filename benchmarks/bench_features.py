"""Benchmark (prints figures; not a test): feature extraction and the layer-wise probing grid.

(a) Real-time factor (compute seconds per second of audio) of extracting all 13 hidden states
    of a base-size wav2vec2 (stock `Wav2Vec2Config()`: 768-dim, 12 layers, random weights) on
    60 s of speech (20 utterances of 1.5-5 s): the layer-norm-CNN variant batched with masks,
    with length bucketing vs random-order batches under the same padded-seconds budget; and
    the stock group-norm variant, one utterance per pass (how the study's W2V2 models run).
(b) The study's probing grid (3 models x 13 layers x 3 settings x 5 folds, 1,600/200/200
    utterances, 768-dim cached features): the batched all-layer probe against the naive plan
    of re-extracting features for every layer and probing one layer at a time. Only one
    (model, setting, fold) is trained, for a few epochs without early stopping; times are
    scaled per epoch to 100 epochs (the study's maximum: an upper bound for both plans).

Run: .venv/bin/python benchmarks/bench_features.py   (about 2-4 minutes on 2 CPU cores)
"""

from __future__ import annotations

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
from xlser.batching import length_buckets  # noqa: E402
from xlser.features import encode_batch  # noqa: E402
from xlser.config import schema_defaults  # noqa: E402
from xlser.probe import ProbeConfig, train_probes  # noqa: E402

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


def save_base(folder: Path, layer_norm: bool) -> str:
    torch.manual_seed(0)
    cfg = Wav2Vec2Config(feat_extract_norm="layer") if layer_norm else Wav2Vec2Config()
    Wav2Vec2Model(cfg).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=SR, do_normalize=layer_norm,
                             return_attention_mask=layer_norm).save_pretrained(folder)
    return str(folder)


def random_batches(durations: np.ndarray, budget: float, seed: int = 0) -> list[list[int]]:
    """Random order, batches filled up to the same padded-seconds budget (no sorting)."""
    batches, cur, longest = [], [], 0.0
    for i in np.random.default_rng(seed).permutation(len(durations)):
        new = max(longest, durations[i])
        if cur and new * (len(cur) + 1) > budget:
            batches.append(cur)
            cur, new = [], durations[i]
        cur.append(int(i))
        longest = new
    return batches + [cur] if cur else batches


def time_batches(src: str, wavs: list[np.ndarray], batches: list[list[int]]) -> float:
    """Seconds to encode (all hidden states, pooled) every batch; model and audio preloaded."""
    model = Wav2Vec2Model.from_pretrained(src).eval()
    fe = Wav2Vec2FeatureExtractor.from_pretrained(src)
    encode_batch(model, fe, wavs[:2], torch.device("cpu"))  # warm-up (allocator, kernels)
    t = time.perf_counter()
    for b in batches:
        encode_batch(model, fe, [wavs[i] for i in b], torch.device("cpu"))
    return time.perf_counter() - t


def part_a(tmp: Path) -> float:
    man = make_corpus(tmp)
    d = man["duration_s"].to_numpy()
    audio = d.sum()
    wavs = [sf.read(p, dtype="float32")[0] for p in man["path"]]
    ln, gn = save_base(tmp / "ln", True), save_base(tmp / "gn", False)
    print(f"(a) extraction, base wav2vec2 (768-dim, 12 layers, random init), {len(man)} utterances, "
          f"{audio:.1f} s of audio, {torch.get_num_threads()} CPU threads, budget {BUDGET_S:.0f} padded s/batch")
    plans = {"layer-norm CNN, length-bucketed batches": (ln, length_buckets(d, BUDGET_S)),
             "layer-norm CNN, random-order batches   ": (ln, random_batches(d, BUDGET_S)),
             "group-norm CNN (stock), 1 utt per pass ": (gn, [[i] for i in range(len(d))])}
    times = {}
    for name, (src, batches) in plans.items():
        padded = sum(max(d[b]) * len(b) for b in batches)
        times[name] = time_batches(src, wavs, batches)
        print(f"    {name}: {times[name]:6.1f} s  RTF {times[name] / audio:.3f}  ({len(batches)} batches, "
              f"padded audio {padded:.1f} s)", flush=True)
    names = list(plans)
    print(f"    bucketing vs random order: x{times[names[1]] / times[names[0]]:.2f} faster")
    return times[names[2]] / len(man)  # the study's models run one by one: per-utterance cost for (b)


def part_b(t_utt: float) -> None:
    rng = np.random.default_rng(0)
    n = N_TRAIN + N_VAL + N_TEST
    y = rng.integers(0, 4, n)
    X = rng.standard_normal((n, LAYERS, 768)).astype(np.float16)
    X[:, :, :4] += np.eye(4, dtype=np.float16)[y][:, None, :]
    tr, va = slice(0, N_TRAIN), slice(N_TRAIN, N_TRAIN + N_VAL)
    cfg = ProbeConfig.from_section(schema_defaults("probe") | {"lr": 1e-3, "max_epochs": BENCH_EPOCHS, "patience": 10 ** 6})
    t = time.perf_counter()
    res = train_probes(X[tr], y[tr], X[va], y[va], 4, cfg)
    res.predict_proba(X[N_TRAIN + N_VAL:])
    t_all = (time.perf_counter() - t) / BENCH_EPOCHS * STUDY_EPOCHS
    t = time.perf_counter()
    res1 = train_probes(X[tr, 6:7], y[tr], X[va, 6:7], y[va], 4, cfg, layer_ids=[6])
    res1.predict_proba(X[N_TRAIN + N_VAL:, 6:7])
    t_one = (time.perf_counter() - t) / BENCH_EPOCHS * STUDY_EPOCHS
    runs = MODELS * SETTINGS * FOLDS
    extract_once = MODELS * n * t_utt  # every utterance once per model (features cached)
    batched = extract_once + runs * t_all
    naive = MODELS * LAYERS * SETTINGS * FOLDS * (n * t_utt + t_one)
    print(f"(b) probing grid {MODELS} models x {LAYERS} layers x {SETTINGS} settings x {FOLDS} folds, "
          f"{N_TRAIN}/{N_VAL}/{N_TEST} utterances, 768-dim; measured {BENCH_EPOCHS} epochs of one "
          f"(model, setting, fold), scaled to {STUDY_EPOCHS} epochs")
    print(f"    batched probe, all 13 layers, one run   : {t_all:7.1f} s   (single layer alone: {t_one:.1f} s; "
          f"13 separate runs {LAYERS * t_one:.1f} s)")
    print(f"    extraction per utterance (measured (a)) : {t_utt:7.3f} s")
    print(f"    batched plan: extract once + {runs} probe runs = {extract_once / 3600:.2f} h + "
          f"{runs * t_all / 3600:.2f} h = {batched / 3600:.2f} h")
    print(f"    naive plan: re-extract per layer/setting/fold + 1-layer probe = {naive / 3600:.1f} h")
    print(f"    ratio naive / batched = {naive / batched:.0f}x")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        t_utt = part_a(Path(d))
    part_b(t_utt)


if __name__ == "__main__":
    main()
