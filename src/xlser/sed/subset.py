"""The SED evaluation subset: the ZED utterances that models and listeners are scored on.

The study scored 8 ZED utterances per emotion (angry, happy, sad) for both the model and
the listeners; the same subset feeds `diarize` and Table IV, so every system is scored on
the same utterances. Which utterances, in order of precedence:

1. `sed.subset: <csv>` (a `utt_id` column): pinned, e.g. the study's 24;
2. otherwise, the utterances of the SED corpus that listeners gave segment answers for
   (when there are any), so that the listeners' columns are never partial;
3. otherwise, a seeded draw of `per_emotion` utterances per emotion.

The subset's `duration_s` is the duration EDER is scored with: the manifest's
`seg_duration` where the corpus gives one (ZED: `ZED.json`'s `duration`, as speechbrain's
recipe), else the audio's.

The draw without answers (1 or 3, `results/sed/draw.csv`) is what a listening test plays
(the demo's simulated listeners answer it). Listener answers outside the subset are an
error (or, lenient, counted, logged and left out).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from xlser.data.manifest import read_manifest
from xlser.errors import InputError
from xlser.io import write_csv
from xlser.sed.eder import letter_map

log = logging.getLogger(__name__)

SUBSET_COLUMNS = ["utt_id", "emotion", "seg_start", "seg_end", "duration_s", "path"]


def _checked(manifest: pd.DataFrame, emotions: Sequence[str], path: str | Path) -> pd.DataFrame:
    """The manifest, checked: segment columns present, every utterance of `emotions` with its segment."""
    letter_map(emotions)  # the emotions must be tellable apart by speechbrain's EDER
    for col in ("seg_start", "seg_end"):
        if col not in manifest.columns:
            raise InputError(path, f"missing column '{col}': a diarization corpus (format zed) is expected", line=1)
    df = manifest.reset_index(drop=True)
    if "seg_duration" in df.columns:  # the duration the reference is scored with (ZED.json's)
        df = df.assign(duration_s=df["seg_duration"].where(df["seg_duration"].notna(), df["duration_s"]))
    for i, r in enumerate(df.itertuples()):
        if r.emotion not in emotions:
            continue
        ok = pd.notna(r.seg_start) and pd.notna(r.seg_end) and 0 <= r.seg_start < r.seg_end <= r.duration_s + 0.05
        if not ok:
            raise InputError(
                path,
                f"utterance '{r.utt_id}' needs 0 <= seg_start < seg_end <= duration_s, got "
                f"[{r.seg_start}, {r.seg_end}] for {r.duration_s} s",
                line=i + 2,
            )
    return df


def _ordered(df: pd.DataFrame, emotions: Sequence[str]) -> pd.DataFrame:
    order = {e: i for i, e in enumerate(emotions)}
    out = df.assign(_e=df["emotion"].map(order)).sort_values(["_e", "utt_id"]).reset_index(drop=True)
    return out[SUBSET_COLUMNS].astype({"seg_start": float, "seg_end": float, "duration_s": float})


def select_subset(
    manifest: pd.DataFrame, emotions: Sequence[str], per_emotion: int, seed: int, path: str | Path = "manifest.csv"
) -> pd.DataFrame:
    """Draw `per_emotion` utterances per emotion (without replacement), ordered by emotion then id.

    Rows need the emotional segment (`seg_start < seg_end` inside the utterance); the draw
    uses numpy's seeded generator, so the same manifest and seed give the same subset.
    """
    df = _checked(manifest, emotions, path)
    rng = np.random.default_rng(seed)
    parts = []
    for emo in emotions:
        pool = df[df["emotion"] == emo].sort_values("utt_id")
        if len(pool) < per_emotion:
            raise InputError(
                path, f"{len(pool)} utterance(s) of emotion '{emo}', {per_emotion} requested (sed.per_emotion)"
            )
        idx = rng.choice(len(pool), size=per_emotion, replace=False)
        parts.append(pool.iloc[np.sort(idx)])
    out = pd.concat(parts, ignore_index=True)
    return out[SUBSET_COLUMNS].astype({"seg_start": float, "seg_end": float, "duration_s": float})


def pinned_subset(
    manifest: pd.DataFrame,
    pinned: pd.DataFrame,
    emotions: Sequence[str],
    pinned_path: str | Path = "subset.csv",
    manifest_path: str | Path = "manifest.csv",
) -> pd.DataFrame:
    """The manifest rows of the pinned `utt_id`s, ordered by emotion then id; an unknown or
    repeated id, or one whose emotion is not an SED emotion, is an error naming its line."""
    df = _checked(manifest, emotions, manifest_path).set_index("utt_id", drop=False)
    seen: set[str] = set()
    nfc = {unicodedata.normalize("NFC", str(x)): x for x in df.index}  # an id typed or copied in another form
    for i, cell in enumerate(pinned["utt_id"].astype(str)):
        u = nfc.get(unicodedata.normalize("NFC", cell.strip()), cell.strip())
        if u in seen:
            raise InputError(pinned_path, f"utterance '{u}' listed twice", line=i + 2)
        seen.add(u)
        if u not in df.index:
            raise InputError(pinned_path, f"utterance '{u}' is not in the SED corpus ({manifest_path})", line=i + 2)
        if df.at[u, "emotion"] not in emotions:
            raise InputError(
                pinned_path,
                f"utterance '{u}' is {df.at[u, 'emotion']}, not one of the SED emotions {list(emotions)}",
                line=i + 2,
            )
    return _ordered(df.loc[list(seen)].reset_index(drop=True), emotions)


def sed_answers(responses: pd.DataFrame, corpus: str) -> pd.DataFrame:
    """The listeners' answers on the SED corpus, with `line` (their line in responses.csv)."""
    df = responses.reset_index(drop=True)
    return df.assign(line=df.index + 2)[df["corpus"] == corpus]


def answers_in_subset(
    answers: pd.DataFrame, subset_ids: set[str], path: str | Path, lenient: bool = False, what: str = "the SED subset"
) -> pd.DataFrame:
    """The answers whose utterance is in the subset. An answer outside it is an InputError
    naming its line; with `lenient`, such answers are counted, logged and left out."""
    outside = answers[~answers["utt_id"].isin(subset_ids)]
    if len(outside):
        first = outside.iloc[0]
        line = int(first["line"]) if "line" in outside.columns else None
        msg = (
            f"{len(outside)} listener answer(s) on utterances outside {what}, first '{first['utt_id']}' "
            f"(listener {first['listener']}); pin the subset with sed.subset or set human.lenient"
        )
        if not lenient:
            raise InputError(path, msg, line=line)
        log.warning("%s: %s; left out (lenient)", path, msg.split("; pin")[0])
    return answers[answers["utt_id"].isin(subset_ids)]


def answered_subset(
    manifest: pd.DataFrame,
    answers: pd.DataFrame,
    emotions: Sequence[str],
    responses_path: str | Path = "responses.csv",
    manifest_path: str | Path = "manifest.csv",
    lenient: bool = False,
) -> pd.DataFrame:
    """The SED-corpus utterances (of the SED emotions) that listeners answered."""
    df = _checked(manifest, emotions, manifest_path)
    eligible = df[df["emotion"].isin(emotions)]
    kept = answers_in_subset(
        answers, set(eligible["utt_id"]), responses_path, lenient, f"the SED corpus's {'/'.join(emotions)} utterances"
    )
    return _ordered(eligible[eligible["utt_id"].isin(set(kept["utt_id"]))], emotions)


def make_subset(
    manifest_csv: str | Path,
    out_csv: str | Path,
    emotions: Sequence[str],
    per_emotion: int,
    seed: int,
    *,
    pinned_csv: str | Path | None = None,
    responses_csv: str | Path | None = None,
    corpus: str | None = None,
    lenient: bool = False,
) -> pd.DataFrame:
    """Read the SED corpus manifest, choose the subset (pinned > answered > seeded draw), write
    it atomically. Without `responses_csv` this is the draw a listening test plays."""
    from xlser.contracts import read_table
    from xlser.io import read_csv

    df = read_manifest(manifest_csv)
    answers = None
    if responses_csv is not None and corpus is not None:
        answers = sed_answers(read_table(responses_csv, "responses"), corpus)
    if pinned_csv is not None:
        pinned = read_csv(pinned_csv, ["utt_id"], dtype={"utt_id": str})
        sub = pinned_subset(df, pinned, list(emotions), pinned_csv, manifest_csv)
        how = f"pinned by {pinned_csv}"
        if answers is not None:
            answers_in_subset(answers, set(sub["utt_id"]), responses_csv, lenient, f"the subset pinned by {pinned_csv}")
    elif answers is not None and len(answers):
        sub = answered_subset(df, answers, list(emotions), responses_csv, manifest_csv, lenient)
        how = f"the utterances listeners answered ({responses_csv})"
    else:
        sub = select_subset(df, list(emotions), int(per_emotion), int(seed), manifest_csv)
        how = f"seeded draw ({per_emotion} per emotion, seed {seed})"
    if sub.empty:
        raise InputError(manifest_csv, f"the SED subset is empty ({how})")
    write_csv(sub, out_csv)
    log.info("SED subset, %s: %d utterances (%s)", how, len(sub), sub["emotion"].value_counts().to_dict())
    return sub


def read_subset(path: str | Path) -> pd.DataFrame:
    """Read `subset.csv`, checking its columns."""
    from xlser.io import check_no_missing, read_csv

    df = read_csv(path, SUBSET_COLUMNS, dtype={"utt_id": str})
    check_no_missing(df, SUBSET_COLUMNS, path)
    return df
