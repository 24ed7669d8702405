"""Cross-validation splits: exact balance, disjoint partitions, differing folds, determinism,
no held-out speaker/session in train, clear errors when data is short."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from xlser.data.splits import listening_subset, make_splits
from xlser.errors import InputError

EMO = ["angry", "happy", "neutral", "sad"]


def manifest(speakers: int, per: int, sessions: int | None = None) -> pd.DataFrame:
    rows = []
    for s, e, i in itertools.product(range(speakers), EMO, range(per)):
        spk = f"spk{s}"
        row = {"utt_id": f"{spk}_{e}_{i}", "speaker": spk, "emotion": e}
        if sessions:
            row["session"] = f"Ses{s % sessions + 1:02d}"
            row["speaker"] = f"{row['session']}{'FM'[s // sessions % 2]}"
        rows.append(row)
    return pd.DataFrame(rows)


def check_balance(df, train_pe, val, test):
    for f, g in df.groupby("fold"):
        assert not g["utt_id"].duplicated().any()  # no utterance in two partitions of a fold
        for part, n in (("train", train_pe), ("val", val // 4), ("test", test // 4)):
            counts = g[g["partition"] == part]["emotion"].value_counts()
            assert counts.to_dict() == dict.fromkeys(EMO, n), (f, part)


@pytest.mark.parametrize(
    "mode,man", [("random", manifest(1, 40)), ("speaker", manifest(10, 12)), ("session", manifest(10, 6, sessions=5))]
)
def test_balance_disjoint_differing_deterministic(mode, man):
    df = make_splits(man, EMO, 8, 16, 16, folds=5, seed=3, split_by=mode)
    df = df.merge(man, on="utt_id")
    check_balance(df, 8, 16, 16)
    tests = [frozenset(g[g["partition"] == "test"]["utt_id"]) for _, g in df.groupby("fold")]
    assert len(set(tests)) == 5  # folds differ
    again = make_splits(man, EMO, 8, 16, 16, folds=5, seed=3, split_by=mode)
    pd.testing.assert_frame_equal(again, df[["utt_id", "fold", "partition"]])
    other = make_splits(man, EMO, 8, 16, 16, folds=5, seed=4, split_by=mode)
    assert not other.equals(again)


def test_random_mode_test_sets_do_not_overlap_across_folds():
    df = make_splits(manifest(1, 40), EMO, 8, 16, 16, folds=5, seed=0, split_by="random")
    test = df[df["partition"] == "test"]
    assert not test["utt_id"].duplicated().any()


def test_speaker_mode_holds_out_speakers():
    man = manifest(10, 12)
    df = make_splits(man, EMO, 8, 16, 16, folds=5, seed=0, split_by="speaker").merge(man, on="utt_id")
    held_all = []
    for _f, g in df.groupby("fold"):
        train_spk = set(g[g["partition"] == "train"]["speaker"])
        val_spk, test_spk = set(g[g["partition"] == "val"]["speaker"]), set(g[g["partition"] == "test"]["speaker"])
        assert not train_spk & (val_spk | test_spk)
        assert len(val_spk) == 1 and len(test_spk) == 1 and val_spk != test_spk  # 2 of 10 held out, as the study
        held_all += list(val_spk | test_spk)
    assert len(set(held_all)) == 10  # every speaker held out exactly once over 5 folds


def test_session_mode_is_leave_one_session_out():
    man = manifest(10, 6, sessions=5)
    df = make_splits(man, EMO, 8, 16, 16, folds=5, seed=0, split_by="session").merge(man, on="utt_id")
    held = []
    for _f, g in df.groupby("fold"):
        out = set(g[g["partition"] != "train"]["session"])
        assert len(out) == 1 and not out & set(g[g["partition"] == "train"]["session"])
        genders = {p: set(g[g["partition"] == p]["speaker"].str[-1]) for p in ("val", "test")}
        assert genders["val"] != genders["test"] and all(len(v) == 1 for v in genders.values())
        held += list(out)
    assert sorted(held) == [f"Ses{i:02d}" for i in range(1, 6)]


def test_too_few_utterances_says_how_many():
    with pytest.raises(InputError, match=r"too few 'angry' utterances in corpus X: 10 exist, 24 were asked"):
        make_splits(manifest(1, 10), EMO, 16, 16, 16, folds=2, split_by="random", corpus="X")
    with pytest.raises(InputError, match=r"too few 'angry' utterances for the split: 3 exist in the test speaker"):
        make_splits(manifest(4, 3), EMO, 4, 16, 16, folds=2, split_by="speaker")
    with pytest.raises(InputError, match="cannot be balanced over its 4 emotions"):
        make_splits(manifest(1, 40), EMO, 4, 10, 16, folds=2)


def test_listening_subset_is_balanced_over_emotions_and_speakers():
    man = manifest(4, 10)
    sub = listening_subset(man, EMO, 12, seed=1)
    assert sub["emotion"].value_counts().to_dict() == dict.fromkeys(EMO, 12)
    assert sub.groupby("emotion")["speaker"].value_counts().to_dict() == {
        (e, f"spk{s}"): 3 for e in EMO for s in range(4)
    }
    pd.testing.assert_frame_equal(sub, listening_subset(man, EMO, 12, seed=1))


def test_mixed_heldout_shares_every_heldout_speaker_evenly():
    """The study's folds: ESD holds out 2 speakers, val and test each 25 per emotion of each."""
    man = manifest(10, 60)
    df = make_splits(man, EMO, 40, 200, 200, folds=5, seed=0, split_by="speaker", heldout="mixed")
    df = df.merge(man, on="utt_id")
    check_balance(df, 40, 200, 200)
    held_all = []
    for f, g in df.groupby("fold"):
        out = g[g["partition"] != "train"]
        assert set(out["speaker"]) & set(g[g["partition"] == "train"]["speaker"]) == set()
        for part in ("val", "test"):
            per = g[g["partition"] == part].groupby(["speaker", "emotion"]).size()
            assert len(per) == 2 * 4 and set(per) == {25}, (f, part)
        held_all += sorted(set(out["speaker"]))
    assert sorted(held_all) == sorted(set(man["speaker"]))  # each speaker held out once


def test_mixed_session_gives_val_and_test_both_genders_and_balances_what_it_can():
    man = manifest(10, 80, sessions=5)
    # speaker Ses01F has only 30 'happy' utterances: test and val still 50 per emotion, the male fills in
    short = man[(man["speaker"] == "Ses01F") & (man["emotion"] == "happy")].index[30:]
    man = man.drop(short).reset_index(drop=True)
    df = make_splits(man, EMO, 40, 200, 200, folds=5, seed=1, split_by="session", heldout="mixed").merge(
        man, on="utt_id"
    )
    check_balance(df, 40, 200, 200)
    for _f, g in df.groupby("fold"):
        held = g[g["partition"] != "train"]
        assert held["session"].nunique() == 1
        for part in ("val", "test"):
            p = g[g["partition"] == part]
            gender = p["speaker"].str[-1]
            if held["session"].iloc[0] != "Ses01":
                assert gender.value_counts().to_dict() == {"F": 100, "M": 100}
            else:
                happy = p[p["emotion"] == "happy"]["speaker"].str[-1].value_counts().to_dict()
                assert happy == {"F": 15, "M": 35}  # 30 F happy split evenly over test and val


def test_stimuli_never_in_train():
    man = manifest(10, 40, sessions=5)
    stim = listening_subset(man, EMO, 12, seed=0)["utt_id"]
    for mode, heldout in (("session", "mixed"), ("session", "separate"), ("speaker", "mixed"), ("random", "separate")):
        base = man if mode != "random" else man.assign(speaker="one")
        df = make_splits(
            base, EMO, 24, 16, 16, folds=5, seed=2, split_by=mode, heldout=heldout, exclude_from_train=set(stim)
        )
        assert not set(df[df["partition"] == "train"]["utt_id"]) & set(stim), (mode, heldout)
        check_balance(df.merge(base, on="utt_id"), 24, 16, 16)
        without = make_splits(base, EMO, 24, 16, 16, folds=5, seed=2, split_by=mode, heldout=heldout)
        assert set(without[without["partition"] == "train"]["utt_id"]) & set(stim)  # they would be there
    with pytest.raises(InputError, match=r"listening stimuli kept out of training"):
        make_splits(
            manifest(1, 30),
            EMO,
            20,
            16,
            16,
            folds=1,
            split_by="random",
            exclude_from_train=set(manifest(1, 30)["utt_id"]),
        )


def test_dialog_pools_select_and_deprecated_improvised_only():
    from xlser.data.splits import dialog_pools, select_dialogs

    man = manifest(2, 4).assign(dialog=lambda d: ["improvised", "scripted"] * (len(d) // 2))
    assert len(select_dialogs(man, "all")) == len(man)
    assert set(select_dialogs(man, "improvised")["dialog"]) == {"improvised"}
    assert set(select_dialogs(man, "scripted")["dialog"]) == {"scripted"}
    assert len(select_dialogs(man.drop(columns="dialog"), "improvised")) == len(man)  # no dialog types: all
    assert dialog_pools({"dialogs": "all", "listening_dialogs": "improvised"}) == ("all", "improvised")
    assert dialog_pools({"improvised_only": True, "dialogs": "all"}) == ("improvised", "improvised")
    assert dialog_pools({"improvised_only": False}) == ("all", "all")
    with pytest.raises(InputError, match="unknown dialog pool 'impro'"):
        select_dialogs(man, "impro")


def test_random_folds_independent_draws_reproducible_and_may_overlap_disjoint_never():
    """splits.random_folds: independent = one seeded draw per fold (the study's PAVOQUE folds,
    whose held-out sets overlap); disjoint = blocks of one permutation (never overlap)."""
    man = manifest(1, 60)
    kw = {"train_per_emotion": 20, "val": 40, "test": 40, "folds": 5, "split_by": "random"}

    def heldout(df):  # the test sets of the folds
        return [set(g[g["partition"] == "test"]["utt_id"]) for _, g in df.groupby("fold")]

    ind = make_splits(man, EMO, seed=5, random_folds="independent", **kw)
    check_balance(ind.merge(man, on="utt_id"), 20, 40, 40)
    pd.testing.assert_frame_equal(ind, make_splits(man, EMO, seed=5, random_folds="independent", **kw))
    assert not ind.equals(make_splits(man, EMO, seed=6, random_folds="independent", **kw))
    sets = heldout(ind)
    # 10 of 60 per emotion tested per fold: five independent draws overlap (chance of none < 1e-30)
    overlaps = [len(a & b) for a, b in itertools.combinations(sets, 2)]
    assert max(overlaps) > 0
    # each fold is the draw of np.random.default_rng([seed, fold]) alone: fold 2 does not depend on folds 0-1
    three = make_splits(man, EMO, seed=5, random_folds="independent", **{**kw, "folds": 3})
    pd.testing.assert_frame_equal(three, ind[ind["fold"] < 3].reset_index(drop=True))
    for seed in range(5):
        dis = heldout(make_splits(man, EMO, seed=seed, random_folds="disjoint", **kw))
        assert all(not (a & b) for a, b in itertools.combinations(dis, 2)), seed
    with pytest.raises(InputError, match=r"unknown splits.random_folds 'fresh'"):
        make_splits(man, EMO, seed=5, random_folds="fresh", **kw)


def test_listening_subset_avoids_imported_training_utterances():
    man = manifest(2, 20)
    trained = set(man[man["utt_id"].str.endswith(tuple(f"_{i}" for i in range(14)))]["utt_id"])
    sub = listening_subset(man, EMO, 12, seed=1, corpus="ESD", exclude=trained)
    assert not set(sub["utt_id"]) & trained and sub["emotion"].value_counts().to_dict() == dict.fromkeys(EMO, 12)
    with pytest.raises(
        InputError,
        match=r"corpus ESD: too few 'angry' utterances .* outside the imported training "
        r"partitions \(corpora.ESD.folds\): 10 remain, 12 were asked",
    ):
        listening_subset(man, EMO, 12, seed=1, corpus="ESD", exclude=trained | {"spk0_angry_19", "spk1_angry_19"})
