"""Benchmark (prints figures; not a test): the study's layer-wise probing grid on a CPU.

The study's grid at its size: 11 experiments x 5 folds x 13 layers, 1,600 training and 200
validation utterances per fold, 768-dim pooled features (synthetic, float16 as stored), the
study's probe settings as config/paper.yaml writes them (AdamW lr 1e-4, batch 32, up to 100
epochs, patience 10 reset on ties, raw features, one shared initial head, one training
order), once with the study code's MLP head and once with the linear head.

- new path: `xlser.layerwise.probe.probe_experiment`'s training, `train_probe_folds` (every
  fold and layer of an experiment in one stack); the whole grid is timed, experiments run
  `--jobs` at a time in worker processes of `--threads` torch threads each (Snakemake's
  `probe_layers` jobs on `--cores 2`: two one-thread jobs at once);
- on a shared machine wall time says little: CPU seconds (process time) are reported too,
  and "on N idle cores" is the grid's CPU seconds spread over the cores the jobs use;
- old path: `train_probes` as of `--baseline` (git revision; 13 layers of one fold at a
  time), timed on `--old-folds` folds in the same run and scaled to the 55 folds of the grid
  by its per-fold time (the folds of the grid stop after similar epoch counts).

Run: .venv/bin/python benchmarks/bench_probe.py   (about 5-10 minutes on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from xlser.config import schema_defaults  # noqa: E402
from xlser.device import torch_threads  # noqa: E402
from xlser.layerwise.probe import ProbeConfig, train_probe_folds  # noqa: E402

EXPERIMENTS, FOLDS, LAYERS, DIM, CLASSES = 11, 5, 13, 768, 4
N_TRAIN, N_VAL = 1600, 200
POOL = 4000  # synthetic utterances per experiment the folds draw from
BASELINE = "b617a0b"  # the last revision with one fold per training run
STUDY = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text(encoding="utf-8"))["probe"]


def pool(experiment: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic pooled features of one experiment's corpus: layers carry a class signal
    that peaks mid-network, with per-layer offsets and scales like real hidden states."""
    rng = np.random.default_rng(experiment)
    y = rng.integers(0, CLASSES, POOL)
    X = rng.standard_normal((POOL, LAYERS, DIM), dtype=np.float32)
    strength = 0.6 * np.exp(-0.5 * ((np.arange(LAYERS) - 6) / 3.0) ** 2)
    X[:, :, :CLASSES] += strength[None, :, None] * np.eye(CLASSES, dtype=np.float32)[y][:, None, :]
    X = X * rng.uniform(0.5, 2.0, (1, LAYERS, 1)).astype(np.float32) + rng.normal(0, 1, (1, LAYERS, DIM))
    return X.astype(np.float16), y


def folds_of(experiment: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    X, y = pool(experiment)
    out = []
    for f in range(FOLDS):
        idx = np.random.default_rng(100 * experiment + f).permutation(POOL)
        tr, va = idx[:N_TRAIN], idx[N_TRAIN : N_TRAIN + N_VAL]
        out.append((X[tr], y[tr], X[va], y[va]))
    return out


def cfg(head: str) -> ProbeConfig:
    return ProbeConfig.from_section(schema_defaults("probe") | STUDY | {"head": head})


def run_experiment(args: tuple[int, str, int]) -> tuple[float, float, list[int], int]:
    """New path, one experiment (all folds): training wall and CPU seconds (not the synthetic
    features' making), the heads' epoch counts and the worker's pid."""
    experiment, head, threads = args
    folds = folds_of(experiment)
    t, c = time.perf_counter(), time.process_time()
    res = train_probe_folds(folds, CLASSES, cfg(head), "cpu", threads=threads)
    return time.perf_counter() - t, time.process_time() - c, [int(e) for r in res for e in r.epochs], os.getpid()


def old_module(rev: str):
    """`xlser.layerwise.probe` as of git revision `rev`, imported from a temporary file."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:src/xlser/layerwise/probe.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "probe_old.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("probe_old", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["probe_old"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def old_per_fold(head: str, n_folds: int, threads: int, rev: str) -> tuple[float, float, list[int]]:
    """Old path: wall and CPU seconds per fold (13 layers) and the epoch counts, over the first `n_folds` folds."""
    old = old_module(rev)
    c = cfg(head)
    old_cfg = old.ProbeConfig(c.optim, c.head, c.selection, c.standardize)
    folds = folds_of(0)[:n_folds]
    t, cpu = time.perf_counter(), time.process_time()
    epochs = []
    with torch_threads(threads):
        for X_tr, y_tr, X_va, y_va in folds:
            res = old.train_probes(X_tr, y_tr, X_va, y_va, CLASSES, old_cfg, "cpu", threads=threads)
            epochs += [int(e) for e in res.epochs]
    return (time.perf_counter() - t) / n_folds, (time.process_time() - cpu) / n_folds, epochs


def grid(head: str, jobs: int, threads: int) -> tuple[float, float, float, list[int]]:
    """New path over the whole grid: wall seconds (with making the synthetic features), the
    training's wall seconds (the busiest worker's training time summed: what the grid's probe
    jobs take), summed job CPU seconds, epoch counts."""
    work = [(e, head, threads) for e in range(EXPERIMENTS)]
    t = time.perf_counter()
    if jobs == 1:
        done = [run_experiment(w) for w in work]
    else:
        with ProcessPoolExecutor(jobs) as ex:
            done = list(ex.map(run_experiment, work))
    wall = time.perf_counter() - t
    per_worker: dict[int, float] = {}
    for d in done:
        per_worker[d[3]] = per_worker.get(d[3], 0.0) + d[0]
    return wall, max(per_worker.values()), sum(d[1] for d in done), [e for d in done for e in d[2]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="experiments trained at once (Snakemake jobs)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per job (config torch_threads)")
    ap.add_argument("--old-folds", type=int, default=1, help="folds the old path is timed on")
    ap.add_argument("--baseline", default=BASELINE, help="git revision of the old path")
    ap.add_argument("--heads", nargs="+", default=["mlp", "linear"], choices=["mlp", "linear"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"probing grid: {EXPERIMENTS} experiments x {FOLDS} folds x {LAYERS} layers, {N_TRAIN}/{N_VAL} "
        f"utterances, {DIM}-dim, study settings (lr 1e-4, batch 32, patience 10, <= 100 epochs); "
        f"{args.jobs} job(s) at once x {args.threads} thread(s); CPU {torch.get_num_threads()} thread(s)"
    )
    for head in args.heads:
        wall, train_wall, cpu, epochs = grid(head, args.jobs, args.threads)
        runs = EXPERIMENTS * FOLDS
        quiet = cpu / min(args.jobs * args.threads, os.cpu_count() or 1)
        print(
            f"  {head:6s} new: grid {wall:7.1f} s wall ({train_wall:.1f} s of it training in the busiest "
            f"worker; the rest makes the synthetic features), {cpu:7.1f} CPU s ({cpu / runs:5.2f} per fold) -> "
            f"{quiet:6.1f} s on {min(args.jobs * args.threads, os.cpu_count() or 1)} idle cores; heads stop after "
            f"{min(epochs)}-{max(epochs)} epochs (median {int(np.median(epochs))})",
            flush=True,
        )
        old_wall, old_cpu, old_epochs = old_per_fold(head, args.old_folds, args.threads, args.baseline)
        print(
            f"  {head:6s} old ({args.baseline}): {old_wall:6.2f} s wall, {old_cpu:6.2f} CPU s per fold "
            f"({args.old_folds} fold(s) timed; epochs {min(old_epochs)}-{max(old_epochs)}) -> grid "
            f"{old_cpu * runs:7.1f} CPU s, {old_cpu * runs / args.jobs:7.1f} s on {args.jobs} idle cores"
        )
        print(
            f"  {head:6s} speed-up, CPU time per fold old / new: x{old_cpu / (cpu / runs):.1f} "
            f"(wall per fold: x{old_wall / (wall * args.jobs / runs):.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
