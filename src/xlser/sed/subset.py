"""The SED evaluation subset: `per_emotion` utterances of each emotion of the SED corpus, seeded.

The study scored 8 ZED utterances per emotion (angry, happy, sad) for both the model and
the listeners; the same subset feeds `diarize`, the listening test's segment task and
Table IV, so every system is scored on the same utterances.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import write_csv
from ..manifest import read_manifest
from .eder import letter_map

log = logging.getLogger(__name__)

SUBSET_COLUMNS = ["utt_id", "emotion", "seg_start", "seg_end", "duration_s", "path"]


def select_subset(manifest: pd.DataFrame, emotions: Sequence[str], per_emotion: int, seed: int,
                  path: str | Path = "manifest.csv") -> pd.DataFrame:
    """Draw `per_emotion` utterances per emotion (without replacement), ordered by emotion then id.

    Rows need the emotional segment (`seg_start < seg_end` inside the utterance); the draw
    uses numpy's seeded generator, so the same manifest and seed give the same subset.
    """
    letter_map(emotions)  # the emotions must be tellable apart by speechbrain's EDER
    for col in ("seg_start", "seg_end"):
        if col not in manifest.columns:
            raise InputError(path, f"missing column '{col}': a diarization corpus (format zed) is expected", line=1)
    df = manifest.reset_index(drop=True)
    for i, r in enumerate(df.itertuples()):
        if r.emotion not in emotions:
            continue
        ok = pd.notna(r.seg_start) and pd.notna(r.seg_end) and 0 <= r.seg_start < r.seg_end <= r.duration_s + 0.05
        if not ok:
            raise InputError(path, f"utterance '{r.utt_id}' needs 0 <= seg_start < seg_end <= duration_s, got "
                                   f"[{r.seg_start}, {r.seg_end}] for {r.duration_s} s", line=i + 2)
    rng = np.random.default_rng(seed)
    parts = []
    for emo in emotions:
        pool = df[df["emotion"] == emo].sort_values("utt_id")
        if len(pool) < per_emotion:
            raise InputError(path, f"{len(pool)} utterance(s) of emotion '{emo}', {per_emotion} requested "
                                   "(sed.per_emotion)")
        idx = rng.choice(len(pool), size=per_emotion, replace=False)
        parts.append(pool.iloc[np.sort(idx)])
    out = pd.concat(parts, ignore_index=True)
    return out[SUBSET_COLUMNS].astype({"seg_start": float, "seg_end": float, "duration_s": float})


def make_subset(manifest_csv: str | Path, out_csv: str | Path, emotions: Sequence[str], per_emotion: int,
                seed: int) -> pd.DataFrame:
    """Read the SED corpus manifest, select the subset, write `results/sed/subset.csv` atomically."""
    df = read_manifest(manifest_csv)
    sub = select_subset(df, list(emotions), int(per_emotion), int(seed), manifest_csv)
    write_csv(sub, out_csv)
    log.info("SED subset: %d utterances (%s)", len(sub), sub["emotion"].value_counts().to_dict())
    return sub


def read_subset(path: str | Path) -> pd.DataFrame:
    """Read `subset.csv`, checking its columns."""
    from ..io import check_no_missing, read_csv

    df = read_csv(path, SUBSET_COLUMNS, dtype={"utt_id": str})
    check_no_missing(df, SUBSET_COLUMNS, path)
    return df
