"""Acceptance: the study's published ESD and IEMOCAP fold lists (tests/data/study_split_id/, copied
from its repository) import with `config/paper.yaml` as shipped, only the roots and the list
folders filled in, on corpus trees in the real layouts that hold every listed utterance (part
of IEMOCAP's listed Happy labelled `exc`, as in the release): every fold's train, validation
and test sets equal the lists, and no listening stimulus is in any training set.

The steps are the data rules' (scan, resample, listening_subset, make_splits), called as their
scripts call them. The trees are written from one encoded WAV (in /dev/shm where there is one).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from xlser.config import validate_config
from xlser.data.corpora import scan_corpus
from xlser.data.folds import PARTITIONS, import_folds, training_ids
from xlser.data.manifest import read_manifest, write_manifest
from xlser.data.resample import resample_corpus
from xlser.data.splits import dialog_pools, listening_subset, select_dialogs
from xlser.demo.layouts import EsdUtterance, IemocapTurn, write_esd, write_iemocap
from xlser.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
LISTS = Path(__file__).resolve().parent / "study_split_id"
FOLDER = {"ESD": "CN_ESD", "IEMOCAP": "EN_IEMOCAP"}
EMO = ["angry", "happy", "neutral", "sad"]
IEMOCAP_LABEL = {"Angry": "ang", "Neutral": "neu", "Sad": "sad"}  # Happy: hap or exc


def _wav() -> bytes:
    buf = io.BytesIO()
    t = np.arange(800) / 16000
    sf.write(buf, 0.3 * np.sin(2 * np.pi * 220 * t), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def listed(corpus: str) -> dict[tuple[int, str], list[str]]:
    """(fold, partition) -> the utterance ids of the study's list, in file order."""
    out = {}
    for k in range(5):
        for sub, part in PARTITIONS.items():
            df = pd.read_csv(LISTS / FOLDER[corpus] / sub / f"metadata_fold{k}.csv")
            out[(k, part)] = df["file"].str.removesuffix(".wav").tolist()
    return out


def listed_labels(corpus: str) -> dict[str, str]:
    labels = {}
    for sub in PARTITIONS:
        for k in range(5):
            df = pd.read_csv(LISTS / FOLDER[corpus] / sub / f"metadata_fold{k}.csv")
            labels.update(zip(df["file"].str.removesuffix(".wav"), df["answer"]))
    return labels


def esd_tree(root: Path) -> None:
    """`<spk>/<Emotion>/{evaluation,test,train}/<spk>_<id>.wav` (20/30/300, ids 1-350 Neutral,
    351-700 Angry, 701-1050 Happy, 1051-1400 Sad) and `<spk>/<spk>.txt`: the whole release's
    four emotions, so every listed utterance and 12,000 unlisted ones exist."""
    audio = _wav()
    utterances = [
        EsdUtterance(
            spk,
            f"{spk}_{e * 350 + i + 1:06d}",
            emo,
            emo,
            f"打开空调{i}",
            audio,
            subset="evaluation" if i < 20 else "test" if i < 50 else "train",
        )
        for spk in (f"{s:04d}" for s in range(1, 11))
        for e, emo in enumerate(["Neutral", "Angry", "Happy", "Sad"])
        for i in range(350)
    ]
    write_esd(root, utterances)


def iemocap_tree(root: Path) -> dict[str, str]:
    """`Session<n>/sentences/wav/<dialog>/<utt>.wav` and `Session<n>/dialog/EmoEvaluation/<dialog>.txt`
    holding every listed utterance in its own dialog (every third listed Happy labelled `exc`),
    plus per session an unlisted improvised dialog (10 utterances of each label, `fru` and `xxx`
    too, which the scan drops). Returns utt -> label written."""
    audio = _wav()
    labels = {}
    for j, (utt, answer) in enumerate(sorted(listed_labels("IEMOCAP").items())):
        labels[utt] = IEMOCAP_LABEL.get(answer) or ("exc" if j % 3 == 0 else "hap")
    for n in range(1, 6):
        for g in "FM":
            for i, lab in enumerate(["ang", "hap", "exc", "neu", "sad", "fru", "xxx"] * 10):
                labels[f"Ses{n:02d}{g}_impro09_{'FM'[i % 2]}{i:03d}"] = lab
    by_dialog: dict[str, list[str]] = defaultdict(list)
    for utt in sorted(labels):
        by_dialog[utt.rsplit("_", 1)[0]].append(utt)
    turns = [
        IemocapTurn(utt, labels[utt], audio, vad=(2.5, 3.0, 2.0), span=(i * 3.1, i * 3.1 + 2.5))
        for utts in by_dialog.values()
        for i, utt in enumerate(utts)
    ]
    write_iemocap(root, turns)
    return labels


@pytest.fixture(scope="module")
def imported():
    base = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        shipped = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
        cfg = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
        out = {}
        written = {}
        for name, make in (("ESD", esd_tree), ("IEMOCAP", iemocap_tree)):
            # paper.yaml as shipped names the study's lists as placeholders; only they and the roots are filled in
            assert shipped["corpora"][name]["folds"] == f"/path/to/split_id/{FOLDER[name]}"
            cfg["corpora"][name] |= {"root": str(base / "corpora" / name), "folds": str(LISTS / FOLDER[name])}
            written[name] = make(Path(cfg["corpora"][name]["root"]))
        validate_config(cfg)  # the schema's defaults
        s = cfg["splits"]
        for name in ("ESD", "IEMOCAP"):
            c = cfg["corpora"][name]
            res = base / "results" / name
            write_manifest(scan_corpus(name, c, cfg["emotions"]), res / "raw.csv")  # rule scan_corpus
            resample_corpus(res / "raw.csv", res / "manifest.csv", res / "wav", cfg["sample_rate"], workers=2)
            man = read_manifest(res / "manifest.csv")
            assert s["exclude_stimuli"]
            # rule listening_subset: the stimuli avoid every imported training partition
            trained = training_ids(c["folds"], man, s["folds"], name)
            stim = listening_subset(
                select_dialogs(man, dialog_pools(c)[1], name),
                cfg["emotions"],
                s["listening_per_emotion"],
                s["seed"],
                corpus=name,
                exclude=trained,
            )
            # rule make_splits: the lists, exactly
            df = import_folds(c["folds"], man, s["folds"], corpus=name, stimuli=stim["utt_id"].tolist())
            out[name] = (man, stim, df)
        yield cfg, out, written, base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("name", ["ESD", "IEMOCAP"])
def test_every_fold_equals_the_studys_lists(imported, name):
    _, out, _, _ = imported
    man, _, df = out[name]
    lists = listed(name)
    assert sorted(df["fold"].unique()) == [0, 1, 2, 3, 4]
    for (k, part), ids in lists.items():
        got = df[(df["fold"] == k) & (df["partition"] == part)]["utt_id"]
        assert len(ids) == len(set(ids)) and sorted(got) == sorted(ids), (name, k, part)
    assert len(df) == sum(len(v) for v in lists.values())  # nothing added, nothing dropped
    sizes = {part: len(lists[(0, part)]) for part in ("train", "val", "test")}
    assert sizes == {"train": 1600, "val": 200, "test": 200}
    emo = man.set_index("utt_id")["emotion"]
    for (k, part), ids in lists.items():  # balanced as published: 400 / 50 / 50 per emotion
        assert set(emo.loc[ids].value_counts()) == {len(ids) // 4}, (name, k, part)


@pytest.mark.parametrize("name", ["ESD", "IEMOCAP"])
def test_no_stimulus_in_any_training_set(imported, name):
    _, out, _, _ = imported
    man, stim, df = out[name]
    assert stim["emotion"].value_counts().to_dict() == dict.fromkeys(EMO, 12)
    assert not set(stim["utt_id"]) & set(df[df["partition"] == "train"]["utt_id"])
    if name == "IEMOCAP":  # listening stimuli from improvised dialogs (paper.yaml listening_dialogs)
        assert set(man.set_index("utt_id").loc[stim["utt_id"], "dialog"]) == {"improvised"}


def test_iemocap_happy_includes_excited(imported):
    cfg, out, written, _base = imported
    man, _, df = out["IEMOCAP"]
    assert cfg["corpora"]["IEMOCAP"]["merge_excited"] is True
    happy = {u for u, a in listed_labels("IEMOCAP").items() if a == "Happy"}
    exc = {u for u in happy if written["IEMOCAP"][u] == "exc"}
    assert len(happy) == 500 and 150 < len(exc) < 190  # a third of the listed Happy is `exc` in this tree
    assert set(man.set_index("utt_id").loc[sorted(exc), "emotion"]) == {"happy"}
    assert exc <= set(df["utt_id"])
    # without the merge the scan drops `exc`, and the import names the first list row it cannot place
    c = {**cfg["corpora"]["IEMOCAP"], "merge_excited": False}
    plain = scan_corpus("IEMOCAP", c, cfg["emotions"])
    assert not exc & set(plain["utt_id"])
    with pytest.raises(
        InputError,
        match=r"metadata_fold0.csv, line \d+: '.*\.wav' names utterance '.*', which is "
        r"not in corpus IEMOCAP's manifest .*merge_excited",
    ):
        import_folds(c["folds"], plain, 5, corpus="IEMOCAP")
