"""Balanced, seeded cross-validation splits and listening-test subsets.

Per fold: `train_per_emotion` utterances per emotion for train, `val` and `test` totals
balanced over emotions. `split_by` says what is held out:
- `speaker`: each fold holds out different speakers (ESD: 2 of its 10 per fold, so five
  folds hold out every speaker once);
- `session`: leave-one-session-out (IEMOCAP: one session, a female and a male speaker);
- `random`: one-speaker corpora (PAVOQUE). `random_folds` says how the folds relate:
  `disjoint` (default): the test block rotates over one seeded permutation, so the test sets
  of different folds do not overlap while there is data for it (fold f's validation block is
  fold f+1's test block);
  `independent`: every fold is its own seeded draw (seed, fold), so test sets of different
  folds may overlap, as the study's PAVOQUE held-out sets do (by up to 115 utterances).
`heldout` says how validation and test share the held-out speakers:
- `mixed` (the study's published fold lists): both draw from every held-out speaker, as
  evenly as the data allows (ESD: 25 per emotion per speaker; IEMOCAP: 100 female and
  100 male utterances each, 50 per emotion);
- `separate`: validation and test come from different held-out speakers (IEMOCAP: one
  gender each), so no model choice is made on the test speakers.
Train never contains a held-out speaker or session, nor an utterance of `exclude_from_train`
(the listening stimuli, drawn first). Same seed, same files.

The pools are chosen before: `select_dialogs` keeps the dialog types a pool uses (IEMOCAP:
the study's folds use improvised and scripted dialogs, its listening stimuli improvised
ones only).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xlser.contracts import validate_table
from xlser.errors import InputError

DIALOG_POOLS = ("all", "improvised", "scripted")
HELDOUT = ("mixed", "separate")
MISSING_EMOTIONS = ("error", "allow")


def present_emotions(
    manifest: pd.DataFrame, emotions: Sequence[str], corpus: str, missing_emotions: str, where: str = ""
) -> list[str]:
    """The configured emotions that `manifest` holds. One that it lacks is an error naming the
    corpus and the emotion unless `corpora.<corpus>.missing_emotions` is `allow`: a corpus
    without its Sad folder would otherwise quietly turn the study into a 3-class one."""
    if missing_emotions not in MISSING_EMOTIONS:
        raise InputError(
            None,
            f"corpora.{corpus}.missing_emotions: unknown value '{missing_emotions}' "
            f"(expected one of {list(MISSING_EMOTIONS)})",
        )
    present = [e for e in emotions if (manifest["emotion"] == e).any()]
    missing = [e for e in emotions if e not in present]
    if missing and missing_emotions == "error":
        e = missing[0]
        raise InputError(
            None,
            f"corpus {corpus} has no '{e}' utterances{where} (configured emotions: "
            f"{', '.join(emotions)}); add them, remove '{e}' from `emotions`, or set "
            f"corpora.{corpus}.missing_emotions: allow to run it with {', '.join(present)}",
        )
    return present


RANDOM_FOLDS = ("disjoint", "independent")


def dialog_pools(corpus_cfg: Mapping[str, Any]) -> tuple[str, str]:
    """(model-fold pool, listening pool) of a corpus: `dialogs`, `listening_dialogs`.

    The deprecated `improvised_only: true|false` sets both (`improvised` | `all`), as it
    did when it filtered the whole corpus. A key that is absent restricts nothing.
    """
    if "improvised_only" in corpus_cfg:
        pool = "improvised" if corpus_cfg["improvised_only"] else "all"
        return pool, pool
    return str(corpus_cfg.get("dialogs", "all")), str(corpus_cfg.get("listening_dialogs", "all"))


def select_dialogs(manifest: pd.DataFrame, pool: str, corpus: str = "") -> pd.DataFrame:
    """The utterances of `pool` (all | improvised | scripted), by the manifest's `dialog` column.

    Corpora without dialog types (no `dialog` column, or an empty value) are kept whole.
    """
    if pool not in DIALOG_POOLS:
        raise InputError(None, f"corpus {corpus}: unknown dialog pool '{pool}' (expected one of {list(DIALOG_POOLS)})")
    if pool == "all" or "dialog" not in manifest.columns:
        return manifest
    typed = manifest["dialog"].notna()
    return manifest[~typed | (manifest["dialog"] == pool)].reset_index(drop=True)


def _per_emotion(total: int, emotions: Sequence[str], what: str, corpus: str) -> int:
    n = len(emotions)
    if total % n:
        raise InputError(
            None,
            f"corpus {corpus}: splits.{what} = {total} cannot be balanced over its {n} emotions "
            f"({', '.join(emotions)}): use a multiple of {n}",
        )
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


def _take(
    df: pd.DataFrame,
    emotion: str,
    k: int,
    rng: np.random.Generator,
    where: str,
    key: str,
    corpus: str = "",
    purpose: str = "the split",
) -> list[str]:
    pool = df[df["emotion"] == emotion]
    if len(pool) < k:
        raise InputError(
            None,
            f"corpus {corpus}: too few '{emotion}' utterances for {purpose}: {len(pool)} exist "
            f"in {where}, {k} were asked ({key}); lower it or add data",
        )
    return _round_robin(pool, rng)[:k]


def _mixed(
    held: pd.DataFrame, emotion: str, test_pe: int, val_pe: int, rng: np.random.Generator, where: str, key: str
) -> tuple[list[str], list[str]]:
    """Test and validation ids of one emotion, each spread evenly over the held-out speakers;
    a speaker short of utterances gives test and validation shares of what it has in
    proportion to their sizes."""
    pool = held[held["emotion"] == emotion]
    need = test_pe + val_pe
    if len(pool) < need:
        raise InputError(
            None,
            f"too few '{emotion}' utterances for the split: {len(pool)} exist in {where}, "
            f"{need} were asked for validation and test ({key}); lower them or add data",
        )
    groups = [list(rng.permutation(g["utt_id"].to_numpy())) for _, g in pool.groupby("speaker", sort=True)]
    groups = [groups[i] for i in rng.permutation(len(groups))]
    quota = _split_quota([len(g) for g in groups], need)
    chosen = [g[:q] for g, q in zip(groups, quota)]
    exact = [c * test_pe / need for c in quota]  # largest-remainder shares of test
    t = [int(x) for x in exact]
    for i in sorted(range(len(t)), key=lambda i: exact[i] - t[i], reverse=True)[: test_pe - sum(t)]:
        t[i] += 1
    te = [u for i, c in enumerate(chosen) for u in c[: t[i]]]
    va = [u for i, c in enumerate(chosen) for u in c[t[i] :]]
    return te, va


def _split_quota(sizes: list[int], k: int) -> list[int]:
    """How many of `k` to take from groups of `sizes`, as evenly as the sizes allow."""
    quota = [0] * len(sizes)
    for _ in range(k):
        open_ = [i for i in range(len(sizes)) if quota[i] < sizes[i]]
        quota[min(open_, key=lambda i: quota[i])] += 1
    return quota


Rows = list[tuple[str, int, str]]  # (utt_id, fold, partition)


@dataclass(frozen=True)
class _Quota:
    """What every fold draws per emotion of a corpus, and the config keys that set it (named
    in the errors of a corpus short of utterances)."""

    corpus: str
    present: list[str]  # the emotions the corpus has
    train_per_emotion: int
    val_pe: int
    test_pe: int
    excluded: set[str]  # never in training (the listening stimuli)
    key_tr: str
    key_va: str
    key_te: str


def _random_splits(manifest: pd.DataFrame, q: _Quota, folds: int, seed: int, random_folds: str) -> Rows:
    """`split_by: random`: per emotion, test and validation blocks of one seeded permutation
    (rotated per fold, or drawn afresh per fold: `random_folds`), training drawn from the rest."""
    train_per_emotion, val_pe, test_pe = q.train_per_emotion, q.val_pe, q.test_pe
    excluded, corpus = q.excluded, q.corpus
    rows: Rows = []
    rng0 = np.random.default_rng(seed)
    perms = {e: rng0.permutation(manifest.loc[manifest["emotion"] == e, "utt_id"].to_numpy()) for e in q.present}
    for f in range(folds):
        rng = np.random.default_rng([seed, f])
        for e in q.present:
            perm = perms[e]
            need = train_per_emotion + val_pe + test_pe
            # disjoint: blocks rotate over one permutation; independent: a fresh draw per fold
            rolled = np.roll(perm, -f * test_pe) if random_folds == "disjoint" else rng.permutation(np.sort(perm))
            rest = rolled[test_pe + val_pe :]
            if excluded:
                rest = rest[~np.isin(rest, list(excluded))]
            if len(perm) < need or len(rest) < train_per_emotion:
                raise InputError(
                    None,
                    f"too few '{e}' utterances in corpus {corpus}: {len(perm)} exist, "
                    f"{need} were asked ({q.key_tr}, {q.key_va}, {q.key_te})",
                )
            rows += [(u, f, "test") for u in rolled[:test_pe]]
            rows += [(u, f, "val") for u in rolled[test_pe : test_pe + val_pe]]
            rows += [(u, f, "train") for u in rng.choice(rest, train_per_emotion, replace=False)]
    return rows


def _held_out_order(manifest: pd.DataFrame, corpus: str, split_by: str, col: str, seed: int) -> list[str]:
    """The speakers or sessions in the seeded order the folds hold them out in; every
    utterance needs one, and there must be two."""
    n_missing = int(manifest[col].isna().sum()) if col in manifest.columns else len(manifest)
    if n_missing:
        raise InputError(
            None,
            f"corpus {corpus}: corpora.{corpus}.split_by = {split_by} needs a '{col}' for "
            f"every utterance, and {n_missing} have none: use split_by random, or give it a "
            f"'{col}' (csv format: a '{col}' column)",
        )
    units = sorted(manifest[col].astype(str).unique())
    if len(units) < 2:
        raise InputError(
            None,
            f"corpus {corpus}: corpora.{corpus}.split_by = {split_by} needs at least 2 "
            f"{col}s, found {units}: use split_by random (or add {col}s)",
        )
    return [units[i] for i in np.random.default_rng(seed).permutation(len(units))]


def _separate_fold(
    held_df: pd.DataFrame,
    train_df: pd.DataFrame,
    held: list[str],
    col: str,
    f: int,
    seed: int,
    rng: np.random.Generator,
    q: _Quota,
) -> Rows:
    """`heldout: separate`: validation and test from different held-out speakers (half each,
    in a seeded order); with one held-out speaker, both from it."""
    corpus, where_tr = q.corpus, f"the training {col}s of fold {f}"
    spk = sorted(held_df["speaker"].unique())
    spk = [spk[i] for i in np.random.default_rng([seed, f, 1]).permutation(len(spk))]
    if len(spk) >= 2:
        half = len(spk) // 2
        val_df, test_df = (
            held_df[held_df["speaker"].isin(spk[:half])],
            held_df[held_df["speaker"].isin(spk[half:])],
        )
        where_va, where_te = f"validation speaker(s) {spk[:half]}", f"test speaker(s) {spk[half:]}"
    else:
        val_df = test_df = held_df
        where_va = where_te = f"held-out {col}(s) {held}"
    rows: Rows = []
    for e in q.present:
        te = _take(test_df, e, q.test_pe, rng, f"the {where_te} of fold {f}", q.key_te, corpus)
        va_pool = val_df[~val_df["utt_id"].isin(te)]
        va = _take(va_pool, e, q.val_pe, rng, f"the {where_va} of fold {f}", q.key_va, corpus)
        tr = _take(train_df, e, q.train_per_emotion, rng, where_tr, q.key_tr, corpus)
        rows += [(u, f, "test") for u in te] + [(u, f, "val") for u in va] + [(u, f, "train") for u in tr]
    return rows


def _unit_splits(manifest: pd.DataFrame, q: _Quota, folds: int, seed: int, split_by: str, heldout: str) -> Rows:
    """`split_by: speaker | session`: each fold holds out its own speakers (about one fold's
    share) or one session; validation and test come from them (`heldout`), training from the rest."""
    col = split_by  # the manifest's column: speaker or session
    order = _held_out_order(manifest, q.corpus, split_by, col, seed)
    excluded = q.excluded
    n_out = 1 if split_by == "session" else max(1, min(len(order) - 1, len(order) // folds))
    rows: Rows = []
    for f in range(folds):
        rng = np.random.default_rng([seed, f])
        held = [order[(f * n_out + i) % len(order)] for i in range(n_out)]
        held_df = manifest[manifest[col].astype(str).isin(held)]
        train_df = manifest[~manifest[col].astype(str).isin(held) & ~manifest["utt_id"].isin(excluded)]
        if heldout != "mixed":
            rows += _separate_fold(held_df, train_df, held, col, f, seed, rng, q)
            continue
        where_tr = f"the training {col}s of fold {f}"
        where = f"the held-out {col}(s) {held} of fold {f} of corpus {q.corpus}"
        for e in q.present:
            te, va = _mixed(held_df, e, q.test_pe, q.val_pe, rng, where, f"{q.key_va}, {q.key_te}")
            tr = _take(train_df, e, q.train_per_emotion, rng, where_tr, q.key_tr, q.corpus)
            rows += [(u, f, "test") for u in te] + [(u, f, "val") for u in va] + [(u, f, "train") for u in tr]
    return rows


def make_splits(
    manifest: pd.DataFrame,
    emotions: Sequence[str],
    train_per_emotion: int,
    val: int,
    test: int,
    folds: int,
    seed: int = 0,
    split_by: str = "random",
    corpus: str = "",
    heldout: str = "separate",
    exclude_from_train: Collection[str] = (),
    random_folds: str = "disjoint",
    missing_emotions: str = "error",
) -> pd.DataFrame:
    """Return `utt_id, fold, partition` rows for every fold (see module docstring)."""
    if heldout not in HELDOUT:
        raise InputError(None, f"unknown splits.heldout '{heldout}' (expected one of {list(HELDOUT)})")
    if random_folds not in RANDOM_FOLDS:
        raise InputError(None, f"unknown splits.random_folds '{random_folds}' (expected one of {list(RANDOM_FOLDS)})")
    present = present_emotions(manifest, emotions, corpus, missing_emotions)
    if len(present) < 2:
        raise InputError(
            None,
            f"corpus {corpus}: fewer than two emotions present ({present}); check "
            f"corpora.{corpus}.label_map and `emotions`",
        )
    val_pe, test_pe = _per_emotion(val, present, "val", corpus), _per_emotion(test, present, "test", corpus)
    excluded = set(exclude_from_train)
    key_tr = f"splits.train_per_emotion={train_per_emotion}"
    if excluded:
        key_tr += f", {len(excluded)} listening stimuli kept out of training (splits.exclude_stimuli)"
    key_va, key_te = f"splits.val={val} -> {val_pe} per emotion", f"splits.test={test} -> {test_pe} per emotion"
    q = _Quota(corpus, list(present), train_per_emotion, val_pe, test_pe, excluded, key_tr, key_va, key_te)
    if split_by == "random":
        rows = _random_splits(manifest, q, folds, seed, random_folds)
    elif split_by in ("speaker", "session"):
        rows = _unit_splits(manifest, q, folds, seed, split_by, heldout)
    else:
        raise InputError(
            None,
            f"corpus {corpus}: unknown corpora.{corpus}.split_by '{split_by}' (expected speaker, session or random)",
        )
    return sort_splits(pd.DataFrame(rows, columns=["utt_id", "fold", "partition"]))


def sort_splits(df: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by fold, partition (train, val, test), utt_id; checked against the contract."""
    order_part = {"train": 0, "val": 1, "test": 2}
    df = df.sort_values(
        ["fold", "partition", "utt_id"], key=lambda s: s.map(order_part) if s.name == "partition" else s, kind="stable"
    ).reset_index(drop=True)
    return validate_table(df, "splits")


def listening_subset(
    manifest: pd.DataFrame,
    emotions: Sequence[str],
    per_emotion: int,
    seed: int = 0,
    corpus: str = "",
    exclude: Collection[str] = (),
    missing_emotions: str = "error",
) -> pd.DataFrame:
    """`per_emotion` stimuli per emotion (the study: 12), spread evenly over speakers.

    Drawn before the folds, from the listening pool (`select_dialogs`), so that
    `make_splits` can keep them out of every training partition. With imported fold lists,
    `exclude` holds every utterance of their training partitions: the stimuli are drawn
    among the others, so the lists stay exactly as published."""
    rng = np.random.default_rng([seed, 7])
    excluded = set(exclude)
    rows = []
    for e in present_emotions(manifest, emotions, corpus, missing_emotions, " in its listening pool"):
        pool = manifest[manifest["emotion"] == e]
        if excluded:
            pool = pool[~pool["utt_id"].isin(excluded)]
            if len(pool) < per_emotion:
                raise InputError(
                    None,
                    f"corpus {corpus}: too few '{e}' utterances for the listening stimuli outside "
                    f"the imported training partitions (corpora.{corpus}.folds): {len(pool)} "
                    f"remain, {per_emotion} were asked (splits.listening_per_emotion; "
                    f"splits.exclude_stimuli)",
                )
        ids = _take(
            pool,
            e,
            per_emotion,
            rng,
            "its listening pool",
            f"splits.listening_per_emotion={per_emotion}",
            corpus,
            "the listening test",
        )
        spk = pool.set_index("utt_id")["speaker"]
        rows += [(u, e, spk[u]) for u in ids]
    return pd.DataFrame(rows, columns=["utt_id", "emotion", "speaker"])
