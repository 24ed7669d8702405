"""xlser.smk: every job records who it is beside its log (rule, wildcards, benchmark file) and,
where it used CUDA, its peak memory: the cost table reads these records."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

from xlser import paths
from xlser.smk import job_record, record_job, record_usage

FINETUNE = {"model": "W2V2-CN", "train": "ESD", "test": "ESD", "strategy": "lora", "fold": 0}
BENCH = "results/benchmarks/peft/W2V2-CN/ESD__ESD/lora/fold0.tsv"


def fake_torch(initialized: bool) -> types.ModuleType:
    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: initialized,
        get_device_name=lambda: "GPU X",
        max_memory_allocated=lambda: 3 * 2**20 + 2**19,
        max_memory_reserved=lambda: 8 * 2**20,
    )
    return types.SimpleNamespace(cuda=cuda)  # type: ignore[return-value]


def test_the_record_names_rule_wildcards_and_benchmark_file():
    assert job_record("finetune", FINETUNE) == {
        "rule": "finetune",
        "wildcards": {k: str(v) for k, v in FINETUNE.items()},
        "benchmark": BENCH,
    }
    assert paths.fill(paths.benchmark("finetune"), **FINETUNE) == BENCH
    assert job_record("table1_peft", {})["benchmark"] == "results/benchmarks/peft/table1.tsv"
    # a rule xlser.paths does not know, or wildcards that do not fill its pattern: no file
    assert job_record("mine", {})["benchmark"] is None and job_record("finetune", {})["benchmark"] is None


def test_writes_peak_memory_of_a_cuda_job(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(True))
    out = tmp_path / "fold0.usage.json"
    record_usage(str(out), "finetune", FINETUNE)
    doc = json.loads(out.read_text())
    assert doc == {
        **job_record("finetune", FINETUNE),
        "device": "GPU X",
        "cuda_max_allocated_mb": 3.5,
        "cuda_max_reserved_mb": 8.0,
    }


def test_no_cuda_fields_for_a_job_that_never_used_cuda(tmp_path, monkeypatch):
    out = tmp_path / "a.usage.json"
    record_job(str(out), "make_splits", {"corpus": "ESD"})
    before = out.read_text()
    monkeypatch.setitem(sys.modules, "torch", fake_torch(False))
    record_usage(str(out), "make_splits", {"corpus": "ESD"})
    monkeypatch.delitem(sys.modules, "torch")
    record_usage(str(out), "make_splits", {"corpus": "ESD"})
    record_usage(str(tmp_path / "b.usage.json"), "make_splits", {"corpus": "ESD"})
    assert out.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.usage.json"]


def test_setup_records_the_job_when_it_starts(tmp_path):
    """Written before the job's work: a job that fails or is stopped is still known by its record."""
    log = tmp_path / "logs" / "data" / "splits_ESD.log"
    log.parent.mkdir(parents=True)
    code = textwrap.dedent(f"""
        from types import SimpleNamespace
        from xlser.smk import setup
        setup(SimpleNamespace(log=[{str(log)!r}], threads=1, rule="make_splits", wildcards={{"corpus": "ESD"}}))
        raise RuntimeError("stopped")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    doc = json.loads((tmp_path / "logs" / "data" / "splits_ESD.usage.json").read_text())
    assert doc == {
        "rule": "make_splits",
        "wildcards": {"corpus": "ESD"},
        "benchmark": "results/benchmarks/data/splits_ESD.tsv",
    }
