"""Balanced, seeded cross-validation splits and listening-test subsets.

Per fold: `train_per_emotion` utterances per emotion for train, `val` and `test` totals
balanced over emotions. `split_by` says what is held out:
- `speaker`: each fold holds out different speakers (the study: 2 of ESD's 10 per fold);
  with two or more held out, validation and test come from different held-out speakers.
- `session`: leave-one-session-out (IEMOCAP); validation and test come from different
  speakers of the held-out session (the study: one female, one male).
- `random`: one-speaker corpora (PAVOQUE); test blocks rotate over a seeded permutation, so
  the test sets of different folds do not overlap while there is data for it.
Train never contains a held-out speaker or session. Same seed, same files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .contracts import validate_table
from .errors import InputError


def _per_emotion(total: int, n: int, what: str) -> int:
    if total % n:
        raise InputError(None, f"splits.{what} = {total} cannot be balanced over {n} emotions "
                               f"(must be a multiple of {n})")
    return total // n


def _round_robin(df: pd.DataFrame, rng: np.random.Generator) -> list[str]:
    """Utterance ids interleaved over speakers (each speaker's list shuffled), so a prefix is
    as speaker-balanced as possible."""
    groups = [rng.permutation(g["utt_id"].to_numpy()) for _, g in df.groupby("speaker", sort=True)]
    order = rng.permutation(len(groups))
    out: list[str] = []
    for i in range(max((len(g) for g in groups), default=0)):
        out += [groups[j][i] for j in order if i < len(groups[j])]
    return out


def _take(df: pd.DataFrame, emotion: str, k: int, rng: np.random.Generator, where: str, key: str) -> list[str]:
    pool = df[df["emotion"] == emotion]
    if len(pool) < k:
        raise InputError(None, f"too few '{emotion}' utterances for the split: {len(pool)} exist in {where}, "
                               f"{k} were asked ({key})")
    return _round_robin(pool, rng)[:k]


def make_splits(manifest: pd.DataFrame, emotions: Sequence[str], train_per_emotion: int, val: int, test: int,
                folds: int, seed: int = 0, split_by: str = "random", corpus: str = "") -> pd.DataFrame:
    """Return `utt_id, fold, partition` rows for every fold (see module docstring)."""
    present = [e for e in emotions if (manifest["emotion"] == e).any()]
    if len(present) < 2:
        raise InputError(None, f"corpus {corpus}: fewer than two emotions present ({present})")
    n_emo = len(present)
    val_pe, test_pe = _per_emotion(val, n_emo, "val"), _per_emotion(test, n_emo, "test")
    rows: list[tuple[str, int, str]] = []
    key_tr = f"splits.train_per_emotion={train_per_emotion}"
    key_va, key_te = f"splits.val={val} -> {val_pe} per emotion", f"splits.test={test} -> {test_pe} per emotion"
    if split_by == "random":
        rng0 = np.random.default_rng(seed)
        perms = {e: rng0.permutation(manifest.loc[manifest["emotion"] == e, "utt_id"].to_numpy()) for e in present}
        for f in range(folds):
            rng = np.random.default_rng([seed, f])
            for e in present:
                perm = perms[e]
                need = train_per_emotion + val_pe + test_pe
                if len(perm) < need:
                    raise InputError(None, f"too few '{e}' utterances in corpus {corpus}: {len(perm)} exist, "
                                           f"{need} were asked ({key_tr}, {key_va}, {key_te})")
                rolled = np.roll(perm, -f * test_pe)
                rows += [(u, f, "test") for u in rolled[:test_pe]]
                rows += [(u, f, "val") for u in rolled[test_pe:test_pe + val_pe]]
                rest = rolled[test_pe + val_pe:]
                rows += [(u, f, "train") for u in rng.choice(rest, train_per_emotion, replace=False)]
    elif split_by in ("speaker", "session"):
        col = "speaker" if split_by == "speaker" else "session"
        if col not in manifest.columns or manifest[col].isna().any():
            raise InputError(None, f"corpus {corpus}: split_by {split_by} needs a '{col}' for every utterance")
        units = sorted(manifest[col].astype(str).unique())
        if len(units) < 2:
            raise InputError(None, f"corpus {corpus}: split_by {split_by} needs at least 2 {col}s, found {units}")
        order = [units[i] for i in np.random.default_rng(seed).permutation(len(units))]
        n_out = 1 if split_by == "session" else max(1, min(len(units) - 1, len(units) // folds))
        for f in range(folds):
            rng = np.random.default_rng([seed, f])
            held = [order[(f * n_out + i) % len(order)] for i in range(n_out)]
            held_df = manifest[manifest[col].astype(str).isin(held)]
            train_df = manifest[~manifest[col].astype(str).isin(held)]
            spk = sorted(held_df["speaker"].unique())
            spk = [spk[i] for i in np.random.default_rng([seed, f, 1]).permutation(len(spk))]
            if len(spk) >= 2:
                half = len(spk) // 2
                val_df, test_df = held_df[held_df["speaker"].isin(spk[:half])], held_df[held_df["speaker"].isin(spk[half:])]
                where_va, where_te = f"validation speaker(s) {spk[:half]}", f"test speaker(s) {spk[half:]}"
            else:
                val_df = test_df = held_df
                where_va = where_te = f"held-out {col}(s) {held}"
            for e in present:
                te = _take(test_df, e, test_pe, rng, f"the {where_te} of fold {f}", key_te)
                va_pool = val_df[~val_df["utt_id"].isin(te)]
                va = _take(va_pool, e, val_pe, rng, f"the {where_va} of fold {f}", key_va)
                tr = _take(train_df, e, train_per_emotion, rng, f"the training {col}s of fold {f}", key_tr)
                rows += [(u, f, "test") for u in te] + [(u, f, "val") for u in va] + [(u, f, "train") for u in tr]
    else:
        raise InputError(None, f"unknown split_by '{split_by}' (expected speaker, session or random)")
    out = pd.DataFrame(rows, columns=["utt_id", "fold", "partition"])
    order_part = {"train": 0, "val": 1, "test": 2}
    out = out.sort_values(["fold", "partition", "utt_id"], key=lambda s: s.map(order_part) if s.name == "partition"
                          else s, kind="stable").reset_index(drop=True)
    return validate_table(out, "splits")


def listening_subset(manifest: pd.DataFrame, emotions: Sequence[str], per_emotion: int, seed: int = 0,
                     corpus: str = "") -> pd.DataFrame:
    """`per_emotion` stimuli per emotion (the study: 12), spread evenly over speakers."""
    rng = np.random.default_rng([seed, 7])
    rows = []
    for e in emotions:
        pool = manifest[manifest["emotion"] == e]
        if pool.empty:
            continue
        ids = _take(pool, e, per_emotion, rng, f"corpus {corpus}", f"splits.listening_per_emotion={per_emotion}")
        spk = pool.set_index("utt_id")["speaker"]
        rows += [(u, e, spk[u]) for u in ids]
    return pd.DataFrame(rows, columns=["utt_id", "emotion", "speaker"])
