"""xlser.smk.record_usage: a job's CUDA peak memory beside its log, for the cost table."""

from __future__ import annotations

import json
import sys
import types

from xlser.smk import record_usage


def fake_torch(initialized: bool) -> types.ModuleType:
    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: initialized,
        get_device_name=lambda: "GPU X",
        max_memory_allocated=lambda: 3 * 2**20 + 2**19,
        max_memory_reserved=lambda: 8 * 2**20,
    )
    return types.SimpleNamespace(cuda=cuda)  # type: ignore[return-value]


def test_writes_peak_memory_of_a_cuda_job(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(True))
    out = tmp_path / "fold0.usage.json"
    record_usage(str(out), "finetune", {"model": "W2V2-CN", "fold": 0})
    doc = json.loads(out.read_text())
    assert doc == {
        "rule": "finetune",
        "wildcards": {"model": "W2V2-CN", "fold": "0"},
        "device": "GPU X",
        "cuda_max_allocated_mb": 3.5,
        "cuda_max_reserved_mb": 8.0,
    }


def test_nothing_for_a_job_that_never_used_cuda(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(False))
    record_usage(str(tmp_path / "a.usage.json"), "make_splits", {})
    monkeypatch.delitem(sys.modules, "torch")
    record_usage(str(tmp_path / "b.usage.json"), "make_splits", {})
    assert list(tmp_path.iterdir()) == []
