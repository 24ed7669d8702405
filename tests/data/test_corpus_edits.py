"""A real corpus's files are tracked: editing, replacing, adding or removing one of its audio
or label files re-plans that corpus's scan and what follows it, and nothing else.

Dry runs in a scratch copy: the finished state is recorded with `--touch` (metadata and
mtimes, no job run), so each plan takes a few seconds."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from conftest import copy_workflow
from fixtures_corpora import csv_tree, esd_tree, iemocap_tree, tone, zed_tree
from xlser.data.corpora.files import corpus_files, fingerprint

LABELS = {"negation": "angry", "expectation": "happy", "question": "neutral"}
SER = ["TA", "TB", "ESD", "IEMOCAP"]


def _snakemake(work: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "mine.yaml", *args]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def _targets() -> list[str]:
    return [f"results/corpora/{c}/manifest.csv" for c in SER + ["ZED"]] + [f"results/splits/{c}.csv" for c in SER]


def planned(work: Path) -> set[tuple[str, str]]:
    """(rule, corpus) of every job a dry run plans."""
    out = _snakemake(work, "-n", *_targets())
    if "Nothing to be done" in out:
        return set()
    jobs = re.findall(r"^rule (\w+):\n(?:\s+\S.*\n)*?\s+wildcards: corpus=(\S+)", out, flags=re.M)
    assert jobs, out[-3000:]
    return set(jobs)


def placeholders(work: Path) -> None:
    """Empty files (and folders) for every output the targets need."""
    out = _snakemake(work, "-n", *_targets())
    for line in re.findall(r"^\s+output: (.+)$", out, flags=re.M):
        for name in line.split(", "):
            path = work / name.strip()
            if path.suffix:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            else:  # directory() outputs (the resampled wavs)
                path.mkdir(parents=True, exist_ok=True)


def finish(work: Path) -> None:
    """Record the plan as done without running it: `--touch --forceall` stamps the outputs
    in DAG order and stores each job's params, as a real run would."""
    _snakemake(work, "--cores", "1", "--touch", "--forceall", *_targets())


def check_replans(jobs: set[tuple[str, str]], *corpora: str) -> None:
    """Exactly these corpora's jobs are planned: each one's scan, resample and (for SER
    corpora) splits, and no job of any other corpus."""
    assert {c for _, c in jobs} == set(corpora), sorted(jobs)
    for c in corpora:
        need = {"scan_corpus", "resample_corpus"} | ({"make_splits"} if c in SER else set())
        assert need <= {r for r, c2 in jobs if c2 == c}, sorted(jobs)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("edits")
    (base / "w").mkdir()
    work = copy_workflow(base / "w")
    data = base / "data"
    corpora = {
        "TA": {"format": "csv", "root": str(csv_tree(data / "TA")), "lang": "TA", "label_map": LABELS},
        "TB": {"format": "csv", "root": str(csv_tree(data / "TB")), "lang": "TB", "label_map": LABELS},
        "ESD": {"format": "esd", "root": str(esd_tree(data / "ESD", speakers=("0001",))), "lang": "CN"},
        "IEMOCAP": {"format": "iemocap", "root": str(iemocap_tree(data / "IEMOCAP")), "lang": "EN"},
        "ZED": {"format": "zed", "root": str(zed_tree(data / "ZED")), "lang": "EN", "role": "sed"},
    }
    cfg = {
        "emotions": ["angry", "happy", "neutral", "sad"],
        "corpora": corpora,
        "splits": {"train_per_emotion": 1, "val": 1, "test": 1, "folds": 1},
    }
    (work / "mine.yaml").write_text(yaml.safe_dump(cfg))
    placeholders(work)
    finish(work)
    return work


def _root(work: Path, corpus: str) -> Path:
    return Path(yaml.safe_load((work / "mine.yaml").read_text())["corpora"][corpus]["root"])


def _later() -> None:
    time.sleep(0.01)  # mtime_ns differs even on coarse clocks' neighbours


def test_finished_corpora_plan_nothing(work: Path) -> None:
    assert planned(work) == set()


def test_label_edits_replan_exactly_their_corpora(work: Path) -> None:
    _later()
    ta = _root(work, "TA") / "labels.csv"  # a csv corpus's table
    ta.write_text(ta.read_text().replace("wav/tj1.wav,expectation", "wav/tj1.wav,question"))
    txt = _root(work, "ESD") / "0001" / "0001.txt"  # an ESD transcript
    txt.write_text(txt.read_text().replace("打开空调1", "打开空调 1"))
    emo = _root(work, "IEMOCAP") / "Session2" / "dialog" / "EmoEvaluation" / "Ses02M_impro03.txt"
    emo.write_text(emo.read_text().replace("\tsad\t", "\tneu\t"))
    zed = _root(work, "ZED") / "ZED.json"
    zed.write_text(zed.read_text().replace('"start": 0.2', '"start": 0.25'))
    check_replans(planned(work), "TA", "ESD", "IEMOCAP", "ZED")  # not TB
    finish(work)


def test_audio_replaced_added_removed_replans_exactly_its_corpus(work: Path) -> None:
    _later()
    tone(_root(work, "TB") / "wav" / "tj2.wav", seconds=0.6, freq=330.0)  # a fixed copy of one file
    added = _root(work, "ESD") / "0001" / "Sad" / "0001_000099.wav"
    tone(added, seconds=0.3)
    check_replans(planned(work), "TB", "ESD")
    finish(work)
    added.unlink()
    check_replans(planned(work), "ESD")


def test_fingerprint_covers_what_the_scan_reads(tmp_path: Path) -> None:
    root = csv_tree(tmp_path / "TJ")
    files = corpus_files("csv", root, {"table": "labels.csv"})
    assert files == sorted([root / "labels.csv"] + [root / "wav" / f"tj{i}.wav" for i in range(4)])
    esd = esd_tree(tmp_path / "ESD", speakers=("0001", "0011"))
    only = corpus_files("esd", esd, {"speakers": ["0001"]})
    assert esd / "0001" / "0001.txt" in only and not any("0011" in str(p) for p in only)
    assert len(only) == 1 + 5 * 2  # transcript + 5 emotions x 2 wavs
    iem = corpus_files("iemocap", iemocap_tree(tmp_path / "IEMOCAP"))
    assert sum(p.suffix == ".txt" for p in iem) == 3 and sum(p.suffix == ".wav" for p in iem) == 9
    # a file the table names but that does not exist yet: its appearance changes the fingerprint
    (root / "labels.csv").write_text((root / "labels.csv").read_text() + "wav/new.wav,question,S0,x,tj_9\n")
    before = fingerprint("csv", root, {"table": "labels.csv"})
    tone(root / "wav" / "new.wav")
    assert fingerprint("csv", root, {"table": "labels.csv"}) != before
    assert fingerprint("csv", root, {"table": "labels.csv"}).startswith("6 files, sha1 ")
