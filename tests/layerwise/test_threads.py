"""Training computes with the config's `torch_threads`, never with the job's cores: the same
seed gives the same probe whatever thread count the job (`--cores`) set before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from xlser.config import schema_defaults
from xlser.device import torch_threads
from xlser.layerwise.probe import ProbeConfig, train_probes


@pytest.fixture
def ambient():
    """Restore the process's torch thread count after a test that changes it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_torch_threads_sets_and_restores(ambient):
    torch.set_num_threads(3)
    with torch_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 3
    with pytest.raises(ValueError, match="torch_threads"), torch_threads(0):
        pass
    assert torch.get_num_threads() == 3


def _data(n=400, layers=4, dim=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    X = rng.normal(size=(n, layers, dim)).astype(np.float32)
    X[:, 2, :4] += 0.8 * np.eye(4)[y]
    return X, y


@pytest.mark.parametrize("threads", [1, 2])
def test_probe_numbers_do_not_depend_on_the_jobs_thread_count(ambient, threads):
    X, y = _data()
    cfg = ProbeConfig.from_section(
        schema_defaults("probe") | {"lr": 1e-2, "max_epochs": 15, "patience": 15, "head": "mlp"}
    )
    seen = []
    for job_threads in (1, 2):  # what xlser.smk.setup sets from the job's `threads` (--cores)
        torch.set_num_threads(job_threads)
        res = train_probes(X[:300], y[:300], X[300:], y[300:], 4, cfg, "cpu", threads=threads)
        assert torch.get_num_threads() == job_threads  # restored
        seen.append((res.val_ua.copy(), res.predict_proba(X[300:])))
    np.testing.assert_array_equal(seen[0][0], seen[1][0])
    np.testing.assert_array_equal(seen[0][1], seen[1][1])


def test_sed_probe_trains_and_decodes_with_the_config_threads(ambient, tmp_path, monkeypatch):
    """`diarize` runs the probe backend's training and its frame decoding under `threads`."""
    from xlser.sed import backends

    seen: dict[str, int] = {}

    class Recorder:
        def __init__(self, *args, **kwargs):
            seen["train"] = torch.get_num_threads()

        def frames(self, wav):
            seen["decode"] = torch.get_num_threads()
            return ["n"] * 10

    monkeypatch.setattr(backends, "ProbeDiarizer", Recorder)
    monkeypatch.setattr(backends, "read_subset", lambda p: pd.DataFrame({"utt_id": ["u1"], "duration_s": [0.2]}))
    monkeypatch.setattr(backends, "read_manifest", lambda p: pd.DataFrame({"utt_id": ["u1"], "path": ["x.wav"]}))
    monkeypatch.setattr(backends, "load_audio", lambda p, sr: (np.zeros(3200, np.float32), sr))
    spec = {
        "backend": "probe",
        "source": "unused",
        "layer": 1,
        "max_per_emotion": 2,
        "min_segment_s": 0.1,
        "gap_s": 0.3,
        "context_s": [0.5],
        "repeats": 1,
    }
    optim = backends.Optim(lr=1e-2, eps=1e-8, weight_decay=0.0, batch_size=4, max_epochs=1, patience=1, seed=0)
    torch.set_num_threads(2)  # the job's cores
    backends.diarize(
        "s.csv",
        "m.csv",
        tmp_path / "frames.json",
        "P",
        spec,
        0.02,
        0.02,
        ["angry"],
        optim,
        "cpu",
        0,
        ["m.csv"],
        threads=1,
    )
    assert seen == {"train": 1, "decode": 1}
    assert torch.get_num_threads() == 2
