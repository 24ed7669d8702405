"""Held-out speakers in splits. Mixed splits when shares are not whole numbers: which
held-out speaker gives the extra utterance, and how its utterances divide between test and
validation (largest remainder), checked against hand-computed counts for every fold and
emotion; and one held-out speaker per fold feeding validation and test without sharing."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from xlser.data.splits import make_splits


def manifest(sizes: dict[str, dict[str, int]]) -> pd.DataFrame:
    """speaker -> emotion -> number of utterances."""
    rows = [
        {"utt_id": f"{s}_{e}_{i:02d}", "speaker": s, "emotion": e}
        for s, per in sizes.items()
        for e, n in per.items()
        for i in range(n)
    ]
    return pd.DataFrame(rows)


def shares(splits: pd.DataFrame, df: pd.DataFrame) -> dict[tuple[int, str], dict[str, tuple[int, int]]]:
    """(fold, emotion) -> held-out speaker -> (test, val) counts."""
    m = splits.merge(df, on="utt_id")
    out: dict = {}
    for (f, e), g in m[m["partition"] != "train"].groupby(["fold", "emotion"]):
        c = Counter(zip(g["speaker"], g["partition"]))
        out[f, e] = {s: (c[s, "test"], c[s, "val"]) for s in sorted(g["speaker"].unique())}
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_uneven_shares_two_held_out_speakers(seed):
    # 4 speakers, 2 folds -> 2 held out per fold; 3 test + 2 validation per emotion = 5 from 2 speakers
    df = manifest({s: {"angry": 10, "sad": 10} for s in ("s1", "s2", "s3", "s4")})
    splits = make_splits(
        df,
        ["angry", "sad"],
        train_per_emotion=4,
        val=4,
        test=6,
        folds=2,
        seed=seed,
        split_by="speaker",
        heldout="mixed",
    )
    got = shares(splits, df)
    assert len(got) == 4
    for key, per in got.items():
        # quotas 3 and 2; test 3 of 5: exact shares 1.8 and 1.2, the remainder to the larger fraction (0.8):
        # the speaker giving 3 gives 2 to test and 1 to validation, the other 1 and 1
        assert sorted(per.values()) == [(1, 1), (2, 1)], (key, per)


def test_uneven_shares_three_held_out_speakers():
    # 6 speakers, 2 folds -> 3 held out; 4 test + 3 val = 7 per emotion: quotas 3, 2, 2;
    # test shares 7 * 4/7: exact 12/7, 8/7, 8/7 = 1.71, 1.14, 1.14 -> floors 1, 1, 1, the 1 left to 1.71
    df = manifest({f"s{i}": {"angry": 10, "sad": 10} for i in range(6)})
    splits = make_splits(
        df, ["angry", "sad"], train_per_emotion=3, val=6, test=8, folds=2, seed=5, split_by="speaker", heldout="mixed"
    )
    for key, per in shares(splits, df).items():
        assert sorted(per.values()) == [(1, 1), (1, 1), (2, 1)], (key, per)


def test_a_short_speaker_gives_what_it_has_in_proportion():
    # held out s1 (1 angry utterance) and s2 (10): quotas 1 and 4 of 5; test 3 of 5: exact shares
    # 0.6 and 2.4 -> floors 0 and 2, the remainder to the larger fraction (0.6, s1): s1 (1, 0), s2 (2, 2)
    df = manifest(
        {
            "s1": {"angry": 1, "sad": 10},
            "s2": {"angry": 10, "sad": 10},
            "s3": {"angry": 10, "sad": 10},
            "s4": {"angry": 10, "sad": 10},
        }
    )
    splits = make_splits(
        df, ["angry", "sad"], train_per_emotion=4, val=4, test=6, folds=2, seed=0, split_by="speaker", heldout="mixed"
    )
    got = shares(splits, df)
    fold = next(f for (f, e), per in got.items() if "s1" in per)
    assert got[fold, "angry"]["s1"] == (1, 0) and sum(got[fold, "angry"]["s1"]) == 1
    other = next(s for s in got[fold, "angry"] if s != "s1")
    assert got[fold, "angry"][other] == (2, 2)
    assert sorted(got[fold, "sad"].values()) == [(1, 1), (2, 1)]


@pytest.mark.parametrize("heldout", ["separate", "mixed"])
def test_one_held_out_speaker_feeds_validation_and_test_without_sharing(heldout):
    # 5 speakers, 5 folds: one held-out speaker per fold gives both validation and test
    df = manifest({f"s{i}": {"angry": 7, "sad": 7, "happy": 7} for i in range(5)})
    splits = make_splits(
        df,
        ["angry", "sad", "happy"],
        train_per_emotion=5,
        val=9,
        test=9,
        folds=5,
        seed=2,
        split_by="speaker",
        heldout=heldout,
    ).merge(df, on="utt_id")
    for _f, g in splits.groupby("fold"):
        val, test = g[g["partition"] == "val"], g[g["partition"] == "test"]
        assert val["speaker"].nunique() == test["speaker"].nunique() == 1
        assert set(val["speaker"]) == set(test["speaker"])
        assert not set(val["utt_id"]) & set(test["utt_id"])  # 3 + 3 of the speaker's 7 per emotion
        assert (
            val["emotion"].value_counts().to_dict()
            == test["emotion"].value_counts().to_dict()
            == {"angry": 3, "sad": 3, "happy": 3}
        )
