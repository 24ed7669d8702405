"""Published fold lists, used verbatim instead of drawn folds (`corpora.<name>.folds: DIR`).

The study published its folds as `DIR/{train,eval,test}/metadata_fold<k>.csv` with columns
`file,answer` (e.g. `0003_001041.wav,Happy`; `eval` is the validation partition). A file's
stem is the manifest's `utt_id` (ESD `0003_001041`, IEMOCAP `Ses02F_impro06_M009`, PAVOQUE
`spike0074-angry`, the name `gradle wav` gives it); `answer` must be the manifest's emotion
(compared in one spelling, `xlser.spelling`: any case, Unicode form or surrounding spaces).
Anything else stops with the list's file and line, so a list is never
silently half-used. The lists are used exactly: with `splits.exclude_stimuli`, the listening
stimuli are drawn among the utterances no imported training partition holds
(`training_ids` -> `listening_subset(exclude=...)`), and a stimulus found in an imported
training partition is an error, never a silent edit of the list.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Collection
from pathlib import Path

import pandas as pd

from xlser.data.splits import sort_splits
from xlser.errors import InputError
from xlser.io import check_text
from xlser.spelling import same

PARTITIONS = {"train": "train", "eval": "val", "test": "test"}


def fold_list_paths(folds_dir: str | Path, folds: int) -> list[Path]:
    """Every list file the import reads: DIR/{train,eval,test}/metadata_fold<k>.csv, k < folds."""
    return [Path(folds_dir) / sub / f"metadata_fold{k}.csv" for k in range(folds) for sub in PARTITIONS]


def utterance_stem(name: str) -> str:
    """`wav/0003_001041.wav` -> `0003_001041` (either slash; the last extension dropped)."""
    base = re.split(r"[\\/]", name.strip())[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def import_folds(
    folds_dir: str | Path, manifest: pd.DataFrame, folds: int, corpus: str = "", stimuli: Collection[str] = ()
) -> pd.DataFrame:
    """`utt_id, fold, partition` rows read, exactly, from the published lists of `folds` folds.

    `stimuli` (the listening stimuli, with `splits.exclude_stimuli`) must be in no training
    partition: one that is stops with its list file and line.
    """
    emotion = dict(zip(manifest["utt_id"].astype(str), manifest["emotion"].astype(str)))
    nfc = {unicodedata.normalize("NFC", u): u for u in emotion}  # a list copied through macOS: NFD names
    stim = set(stimuli)
    rows: list[tuple[str, int, str]] = []
    for k in range(folds):
        seen: dict[str, tuple[Path, int]] = {}
        for sub, part in PARTITIONS.items():
            path = Path(folds_dir) / sub / f"metadata_fold{k}.csv"
            if not path.is_file():
                raise InputError(
                    path,
                    f"fold list not found (corpora.{corpus}.folds = {folds_dir}: expected "
                    f"<DIR>/{{train,eval,test}}/metadata_fold<k>.csv for k = 0..{folds - 1})",
                )
            check_text(path, "utf-8-sig")
            with open(path, encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                header = [h.strip().lower() for h in (reader.fieldnames or [])]
                if "file" not in header or "answer" not in header:
                    raise InputError(path, f"expected the columns file,answer, found {reader.fieldnames}", line=1)
                reader.fieldnames = header
                n = 0
                for rec in reader:
                    line = reader.line_num
                    name, answer = (rec.get("file") or "").strip(), (rec.get("answer") or "").strip()
                    if not name or not answer:
                        raise InputError(path, "empty 'file' or 'answer'", line=line)
                    utt = utterance_stem(name)
                    utt = utt if utt in emotion else nfc.get(unicodedata.normalize("NFC", utt), utt)
                    if utt not in emotion:
                        raise InputError(
                            path,
                            f"'{name}' names utterance '{utt}', which is not in corpus {corpus}'s "
                            f"manifest ({len(emotion)} utterances; was it dropped by the scan? "
                            f"check root, speakers, label_map, merge_excited)",
                            line=line,
                        )
                    if not same(answer, emotion[utt]):
                        raise InputError(
                            path,
                            f"'{name}' is labelled '{answer}', but corpus {corpus} says '{emotion[utt]}'",
                            line=line,
                        )
                    if utt in seen:
                        first, first_line = seen[utt]
                        raise InputError(
                            path,
                            f"'{utt}' is listed twice in fold {k} (first in {first}, line {first_line})",
                            line=line,
                        )
                    seen[utt] = (path, line)
                    n += 1
                    if part == "train" and utt in stim:
                        raise InputError(
                            path,
                            f"listening stimulus '{utt}' of corpus {corpus} is in this training "
                            "partition; with imported lists the stimuli are drawn outside every "
                            "training list (re-run listening_subset with the lists as input)",
                            line=line,
                        )
                    rows.append((utt, k, part))
                if n == 0:
                    raise InputError(path, "the fold list has no rows", line=1)
    return sort_splits(pd.DataFrame(rows, columns=["utt_id", "fold", "partition"]))


def training_ids(folds_dir: str | Path, manifest: pd.DataFrame, folds: int, corpus: str = "") -> set[str]:
    """Every utterance that an imported training partition (any fold) holds: the listening
    stimuli are drawn among the others, so the lists need no edit."""
    df = import_folds(folds_dir, manifest, folds, corpus=corpus)
    return set(df.loc[df["partition"] == "train", "utt_id"].astype(str))
