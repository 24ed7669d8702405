"""Curated mutation check: does every planted bug in a published number fail a unit test?

Mutants live next to the code they mutate, in `src/xlser/**/mutants.yaml`: a list of
entries

    - id: peft.gate-init-zeros              # unique name
      file: modules.py                      # relative to the yaml's folder
      original: "nn.Parameter(torch.ones(dim))"   # must occur exactly once in the file
      mutant: "nn.Parameter(torch.zeros(dim))"
      why: the study initialises the gate to ones   # the published number it would move
      tests: [tests/shared/test_guards.py::test_gate_at_initialisation_is_sigmoid_one_on_every_kept_layer]

The repository's files (git's tracked and untracked-but-not-ignored ones) are copied to a
scratch folder once; each mutant is applied to the scratch copy alone, its `tests` run
with pytest (stopping at the first failure, one thread, a per-mutant timeout) and the file
is restored. The tests run in a fork of this process, which has imported torch,
transformers and the other heavy libraries once (never xlser), so a mutant costs its
tests' time, not seconds of imports (POSIX only). A mutant is killed when its tests fail
(or time out), survives when they pass, and is an error when its `original` is not found
exactly once (stale after a refactor: update the snippet) or its tests cannot be
collected. First the tests of all mutants run once unmutated: a failure there makes every
verdict meaningless, so it stops.

    python tools/mutants.py            # all mutants; prints `killed K of N`
    python tools/mutants.py -k gate    # those whose id contains 'gate'
    python tools/mutants.py --list

Exit status 0 only when every selected mutant is killed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "xlser"
FIELDS = {"id", "file", "original", "mutant", "why", "tests"}


@dataclass(frozen=True)
class Mutant:
    id: str
    path: Path  # relative to the repository root
    original: str
    mutant: str
    why: str
    tests: tuple[str, ...]
    spec: Path  # the yaml that defines it


def load_mutants(package: Path = PACKAGE) -> list[Mutant]:
    """Every mutant of every `mutants.yaml` under the package, checked for shape."""
    out: list[Mutant] = []
    for spec in sorted(package.rglob("mutants.yaml")):
        entries = yaml.safe_load(spec.read_text(encoding="utf-8")) or []
        if not isinstance(entries, list):
            raise SystemExit(f"{spec}: expected a list of mutants")
        for i, e in enumerate(entries):
            missing = FIELDS - set(e or {})
            if missing:
                raise SystemExit(f"{spec}: entry {i + 1} lacks {sorted(missing)}")
            if e["original"] == e["mutant"]:
                raise SystemExit(f"{spec}: mutant {e['id']} changes nothing")
            tests = tuple(e["tests"])
            if not tests:
                raise SystemExit(f"{spec}: mutant {e['id']} names no tests")
            rel = (spec.parent / e["file"]).relative_to(ROOT)
            out.append(
                Mutant(
                    str(e["id"]),
                    rel,
                    str(e["original"]),
                    str(e["mutant"]),
                    str(e["why"]),
                    tests,
                    spec.relative_to(ROOT),
                )
            )
    ids = [m.id for m in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise SystemExit(f"mutant ids used twice: {dup}")
    return out


def repo_files(root: Path = ROOT) -> list[str]:
    """Tracked and untracked-but-not-ignored files (the working tree as it is, not HEAD)."""
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    )
    return sorted({f for f in proc.stdout.decode().split("\0") if f and (root / f).is_file()})


def copy_repo(dest: Path, root: Path = ROOT) -> Path:
    for f in repo_files(root):
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, target)
    return dest


PRELOAD = (
    "numpy",
    "pandas",
    "scipy.stats",
    "sklearn.metrics",
    "statsmodels.stats.multitest",
    "yaml",
    "jsonschema",
    "matplotlib.pyplot",
    "seaborn",
    "soundfile",
    "torch",
    "transformers",
    "peft",
    "safetensors.torch",
    "transformers.models.wav2vec2.modeling_wav2vec2",
    "transformers.models.wavlm.modeling_wavlm",
    "transformers.models.hubert.modeling_hubert",
    "speechbrain.utils.EDER",
    "pytest",
)


def preload() -> None:
    """Import the heavy libraries once, here: every mutant's tests run in a fork of this process,
    so none of them pays torch's and transformers' import again. xlser itself is never
    imported here: each fork imports it afresh from the scratch copy."""
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    assert "xlser" not in sys.modules


def run_tests(work: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    """Run pytest on `tests` in a fork, in the scratch copy: ('pass' | 'fail' | 'timeout' |
    'error', seconds, last lines of its output)."""
    import pytest

    log = work.parent / "pytest.log"
    args = ["-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore", *tests]
    sys.stdout.flush()
    sys.stderr.flush()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: its own process group, so that a timeout ends whatever it started
        code = 3
        try:
            os.setpgid(0, 0)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(work)
            os.environ["PYTHONPATH"] = str(work / "src")
            sys.path.insert(0, str(work / "src"))
            code = int(pytest.main(args))
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    status = None
    while time.perf_counter() - t0 < timeout:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return "timeout", time.perf_counter() - t0, ""
    dt = time.perf_counter() - t0
    text = log.read_text(errors="replace") if log.exists() else ""
    with contextlib.suppress(ProcessLookupError):  # a test's own leftovers
        os.killpg(pid, signal.SIGKILL)
    rc = os.waitstatus_to_exitcode(status)
    lines = text.strip().splitlines()
    first_e = next((ln.strip() for ln in lines if ln.startswith("E ")), "")
    tail = "\n".join(lines[-8:] + ([first_e] if first_e else []))
    # pytest: 0 passed, 1 tests failed, 2 interrupted (a collection error), 4 usage, 5 nothing collected
    return {0: "pass", 1: "fail"}.get(rc, "error"), dt, tail


def first_failure(tail: str, verbose: bool = False) -> str:
    """The failing test's name (and, verbose, its first assertion line)."""
    name = next(
        (ln.split(" - ")[0].split("::", 1)[-1] for ln in tail.splitlines() if ln.startswith(("FAILED", "ERROR"))), ""
    )
    last = tail.splitlines()[-1] if tail else ""
    return f"{name}\n           {last[:300]}" if verbose and last.startswith("E ") else name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", dest="select", default="", help="only mutants whose id contains this")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant (default 180)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the tests")
    ap.add_argument("-v", "--verbose", action="store_true", help="show each killing assertion")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copy")
    args = ap.parse_args(argv)

    mutants = [m for m in load_mutants() if args.select in m.id]
    if args.list:
        for m in mutants:
            print(f"{m.id:40s} {m.path}  ({m.why})")
        print(f"{len(mutants)} mutants")
        return 0
    if not mutants:
        print("no mutant selected")
        return 2
    t_start = time.perf_counter()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # before torch is imported: one thread per test run, no pool to fork
    os.environ.update(PYTHONDONTWRITEBYTECODE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    sys.dont_write_bytecode = True
    preload()
    scratch = Path(tempfile.mkdtemp(prefix="xlser-mutants-"))
    try:
        work = copy_repo(scratch / "repo")
        if not args.no_baseline:
            tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
            verdict, dt, tail = run_tests(work, tests, timeout=max(args.timeout, 600.0))
            print(f"baseline: {len(tests)} test selections on the unmutated tree: {verdict} ({dt:.0f} s)", flush=True)
            if verdict != "pass":
                print(tail)
                print("the unmutated tree fails its tests: no verdict on the mutants")
                return 2
        killed, survived, errors = [], [], []
        for m in mutants:
            target = work / m.path
            if not target.is_file():
                errors.append(m)
                print(f"ERROR    {m.id}: {m.path} does not exist (stale: see {m.spec})", flush=True)
                continue
            text = target.read_text(encoding="utf-8")
            n = text.count(m.original)
            if n != 1:
                errors.append(m)
                print(
                    f"ERROR    {m.id}: its original snippet occurs {n} times in {m.path}, not once "
                    f"(stale: update {m.spec})",
                    flush=True,
                )
                continue
            target.write_text(text.replace(m.original, m.mutant), encoding="utf-8")
            try:
                verdict, dt, tail = run_tests(work, m.tests, args.timeout)
            finally:
                target.write_text(text, encoding="utf-8")
            if verdict in ("fail", "timeout"):
                killed.append(m)
                by = "timeout" if verdict == "timeout" else first_failure(tail, args.verbose)
                print(f"killed   {m.id} ({dt:.0f} s) by {by}", flush=True)
            elif verdict == "pass":
                survived.append(m)
                print(f"SURVIVED {m.id} ({dt:.0f} s): {m.why}", flush=True)
            else:
                errors.append(m)
                print(f"ERROR    {m.id}: its tests could not run ({dt:.0f} s)\n{tail}", flush=True)
        total = time.perf_counter() - t_start
        print(f"\nkilled {len(killed)} of {len(mutants)} ({total:.0f} s)")
        if survived:
            print("survivors: " + ", ".join(m.id for m in survived))
        if errors:
            print("errors (stale or broken): " + ", ".join(m.id for m in errors))
        return 0 if len(killed) == len(mutants) else 1
    finally:
        if args.keep:
            print(f"scratch copy kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
