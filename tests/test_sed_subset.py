"""SED subset: seeded, balanced, checked input."""

from __future__ import annotations

import pandas as pd
import pytest

from xlser.errors import InputError
from xlser.sed.subset import SUBSET_COLUMNS, make_subset, select_subset


def zed_manifest(n_per: int = 5) -> pd.DataFrame:
    rows = []
    for emo in ("angry", "happy", "sad"):
        for k in range(n_per):
            rows.append({"utt_id": f"z_{emo}_{k}", "corpus": "ZED", "lang": "EN", "speaker": "z", "emotion": emo,
                         "path": f"/a/{emo}{k}.wav", "duration_s": 6.0, "sample_rate": 16000,
                         "seg_start": 2.0 + 0.1 * k, "seg_end": 4.0})
    return pd.DataFrame(rows)


def test_per_emotion_seeded_and_ordered():
    df = zed_manifest()
    a = select_subset(df, ["angry", "happy", "sad"], 3, seed=1)
    assert list(a.columns) == SUBSET_COLUMNS
    assert a["emotion"].value_counts().to_dict() == {"angry": 3, "happy": 3, "sad": 3}
    assert a["utt_id"].is_unique
    pd.testing.assert_frame_equal(a, select_subset(df.sample(frac=1, random_state=3), ["angry", "happy", "sad"], 3, 1))
    draws = {tuple(select_subset(df, ["angry", "happy", "sad"], 3, seed=s)["utt_id"]) for s in range(6)}
    assert len(draws) > 1  # the seed matters
    merged = a.merge(df, on="utt_id", suffixes=("", "_m"))
    assert (merged["seg_start"] == merged["seg_start_m"]).all()


def test_too_few_utterances_and_bad_segments_are_named(tmp_path):
    with pytest.raises(InputError, match="2 utterance\\(s\\) of emotion 'angry', 3 requested"):
        select_subset(zed_manifest(2), ["angry"], 3, 0, "m.csv")
    bad = zed_manifest()
    bad.loc[4, "seg_end"] = 1.0  # before seg_start
    with pytest.raises(InputError, match=r"m.csv, line 6: utterance 'z_angry_4'"):
        select_subset(bad, ["angry", "happy", "sad"], 1, 0, "m.csv")
    with pytest.raises(InputError, match="seg_start"):
        select_subset(zed_manifest().drop(columns=["seg_start"]), ["angry"], 1, 0, "m.csv")


def test_make_subset_reads_manifest_and_writes_csv(tmp_path):
    df = zed_manifest()
    df["path"] = [f"wav/{u}.wav" for u in df["utt_id"]]
    df.to_csv(tmp_path / "manifest.csv", index=False)
    out = tmp_path / "sed" / "subset.csv"
    make_subset(tmp_path / "manifest.csv", out, ["angry", "sad"], 2, 0)
    got = pd.read_csv(out)
    assert len(got) == 4 and set(got["emotion"]) == {"angry", "sad"}
    assert all(p.startswith(str(tmp_path)) for p in got["path"])  # absolute audio paths
