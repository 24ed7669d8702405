"""Glue for the workflow: logging to the rule's log file, thread limits and the job's record
(scripts), forced re-runs and local checkpoint fingerprints (rules)."""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import sys
from typing import Any

from xlser import paths


def forced_rerun(dag_settings: Any, rule: str, prefix: str) -> bool:
    """Whether this invocation forces `rule`'s jobs to run again: `--forceall`, or `--forcerun`
    naming the rule or one of its outputs (paths under `prefix`).

    Evaluated when the DAG is built (Snakemake attaches its DAG settings after parsing) and
    handed to the job as a resource, not a param: params are rerun triggers. A forced
    fine-tune then starts over instead of resuming a checkpoint left by a killed job, which
    the job itself cannot tell apart."""
    if dag_settings is None:
        return False
    forcerun = {str(f) for f in (getattr(dag_settings, "forcerun", None) or ())}
    return bool(
        getattr(dag_settings, "forceall", False) or rule in forcerun or any(f.startswith(prefix) for f in forcerun)
    )


def export_pythonpath(src: str) -> None:
    """Put the xlser sources on PYTHONPATH for every job's interpreter (also inside conda
    envs and on cluster nodes, which re-read the Snakefile)."""
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *parts])


def setup(snakemake: Any) -> logging.Logger:
    """Send stdout/stderr and `logging` to the rule's log, cap torch/BLAS threads to `threads:`,
    record the job beside its log (`record_job`; CUDA's peak memory added when it ends).

    Called first in every script, so a failing job's log holds the traceback; for bad input
    (`InputError`, `ConfigError`: file, line or key, and what to do) the message alone.
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    if log_path:
        fh = open(log_path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the job
        sys.stderr = sys.stdout = fh
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True
    )
    sys.excepthook = report_user_error
    threads = max(1, int(getattr(snakemake, "threads", 1) or 1))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    if log_path:
        record = usage_path(log_path)
        wildcards = dict(snakemake.wildcards.items()) if hasattr(snakemake, "wildcards") else {}
        record_job(record, snakemake.rule, wildcards)
        atexit.register(record_usage, record, snakemake.rule, wildcards)
    return logging.getLogger(f"xlser.{snakemake.rule}")


def report_user_error(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    """`sys.excepthook` of a job: bad input ends the job with `ERROR: <message>` (the message
    names the file, line or config key and what to do; a traceback would bury it), any other
    exception with its traceback (a bug to report)."""
    from xlser.errors import ConfigError, InputError

    if issubclass(kind, (InputError, ConfigError)):
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
    else:
        sys.__excepthook__(kind, exc, tb)


def usage_path(log_path: str) -> str:
    """The job's record beside its log: `<log without .log>.usage.json`."""
    return os.path.splitext(log_path)[0] + ".usage.json"


def job_record(rule: str, wildcards: dict[str, Any]) -> dict[str, Any]:
    """Who a job is: its rule, wildcards and benchmark file (the rule's, xlser.paths.benchmark;
    None for a rule xlser.paths does not know or wildcards that do not fill its pattern)."""
    wc = {k: str(v) for k, v in wildcards.items()}
    try:
        bench = paths.fill(paths.benchmark(rule), **wc)
    except KeyError:
        bench = None
    return {"rule": rule, "wildcards": wc, "benchmark": bench}


def _write_json(doc: dict[str, Any], path: str) -> None:
    tmp = f"{path}.part"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    os.replace(tmp, path)


def record_job(path: str, rule: str, wildcards: dict[str, Any]) -> None:
    """Write the job's record (`job_record`) beside its log when it starts.

    The cost table (xlser.report.cost) reads these to know which rule and wildcards each
    benchmark file belongs to: the job itself is the one that knows for certain, whatever the
    paths look like, and its record outlives a run that was stopped or failed."""
    _write_json(job_record(rule, wildcards), path)


def record_usage(path: str, rule: str, wildcards: dict[str, Any]) -> None:
    """Add CUDA's peak memory to the job's record (`<log>.usage.json`) when it ends, where the
    job used CUDA: the cost table reads it; Snakemake's benchmarks see host memory only."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return
    doc = job_record(rule, wildcards) | {
        "device": torch.cuda.get_device_name(),
        "cuda_max_allocated_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
        "cuda_max_reserved_mb": round(torch.cuda.max_memory_reserved() / 2**20, 1),
    }
    _write_json(doc, path)


def checkpoint_fingerprint(source: str, base: str | None = None) -> str | None:
    """`"<n> files, sha1 <hex>"` over (path inside the folder, size, mtime_ns) of every file of a
    local checkpoint folder; None for a hub id (no such folder: the hub's revision is not tracked).

    A param of the rules that load the checkpoint (extract_features, finetune, diarize): no
    rule makes a local checkpoint, so without it Snakemake would not see one overwritten in
    place and features, probes and fine-tunes would keep the old weights. Only stat'ed, never
    read. Not seen: a file rewritten with its old size and mtime (`cp -p`): `--forcerun` then."""
    root = os.path.join(base or os.getcwd(), os.path.expanduser(source))
    if not os.path.isdir(root):
        return None
    entries = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
                stat = f"{st.st_size}\t{st.st_mtime_ns}"
            except OSError:  # a dangling link
                stat = "missing"
            entries.append(f"{os.path.relpath(path, root)}\t{stat}\n")
    h = hashlib.sha1()
    for e in sorted(entries):
        h.update(e.encode("utf-8", "surrogateescape"))
    return f"{len(entries)} files, sha1 {h.hexdigest()}"
