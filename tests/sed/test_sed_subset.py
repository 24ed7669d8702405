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
            rows.append(
                {
                    "utt_id": f"z_{emo}_{k}",
                    "corpus": "ZED",
                    "lang": "EN",
                    "speaker": "z",
                    "emotion": emo,
                    "path": f"/a/{emo}{k}.wav",
                    "duration_s": 6.0,
                    "sample_rate": 16000,
                    "seg_start": 2.0 + 0.1 * k,
                    "seg_end": 4.0,
                }
            )
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


def _resp(rows):
    return pd.DataFrame(
        [
            {
                "listener": l,
                "group": "CN",
                "corpus": c,
                "utt_id": u,
                "true": "angry",
                "pred": "angry",
                "seg_start": 1.0,
                "seg_end": 2.0,
                "simulated": False,
            }
            for l, c, u in rows
        ]
    )


def test_pinned_subset_fixes_the_utterances(tmp_path):
    df = zed_manifest()
    df.to_csv(tmp_path / "manifest.csv", index=False)
    pin = tmp_path / "pin.csv"
    pd.DataFrame({"utt_id": ["z_sad_4", "z_angry_1", "z_happy_0"]}).to_csv(pin, index=False)
    for seed in (0, 1):  # the seed no longer matters, nor per_emotion
        got = make_subset(
            tmp_path / "manifest.csv", tmp_path / "s.csv", ["angry", "happy", "sad"], 3, seed, pinned_csv=pin
        )
        assert got["utt_id"].tolist() == ["z_angry_1", "z_happy_0", "z_sad_4"]  # emotion order, then id
    merged = got.merge(df, on="utt_id", suffixes=("", "_m"))
    assert (merged["seg_start"] == merged["seg_start_m"]).all()
    # answers on the pinned utterances are fine; one outside is an error naming its line, or (lenient) left out
    resp = tmp_path / "responses.csv"
    _resp([("L1", "ZED", "z_angry_1"), ("L1", "OTHER", "x"), ("L2", "ZED", "z_sad_0")]).to_csv(resp, index=False)
    with pytest.raises(InputError, match=r"responses.csv, line 4: 1 listener answer\(s\) .*first 'z_sad_0'"):
        make_subset(
            tmp_path / "manifest.csv",
            tmp_path / "s.csv",
            ["angry", "happy", "sad"],
            3,
            0,
            pinned_csv=pin,
            responses_csv=resp,
            corpus="ZED",
        )
    got = make_subset(
        tmp_path / "manifest.csv",
        tmp_path / "s.csv",
        ["angry", "happy", "sad"],
        3,
        0,
        pinned_csv=pin,
        responses_csv=resp,
        corpus="ZED",
        lenient=True,
    )
    assert len(got) == 3
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"utt_id": ["z_angry_1", "nope"]}).to_csv(bad, index=False)
    with pytest.raises(InputError, match=r"bad.csv, line 3: utterance 'nope' is not in the SED corpus"):
        make_subset(tmp_path / "manifest.csv", tmp_path / "s.csv", ["angry"], 1, 0, pinned_csv=bad)
    with pytest.raises(InputError, match=r"pin.csv, line 2: utterance 'z_sad_4' is sad, not one of the SED"):
        make_subset(tmp_path / "manifest.csv", tmp_path / "s.csv", ["angry", "happy"], 1, 0, pinned_csv=pin)


def test_subset_is_what_listeners_answered_else_the_draw(tmp_path):
    df = zed_manifest()
    df.to_csv(tmp_path / "manifest.csv", index=False)
    resp = tmp_path / "responses.csv"
    _resp(
        [("L1", "ZED", "z_happy_3"), ("L2", "ZED", "z_happy_3"), ("L1", "ZED", "z_angry_0"), ("L1", "OTHER", "z_sad_1")]
    ).to_csv(resp, index=False)  # another corpus's answer does not count
    got = make_subset(
        tmp_path / "manifest.csv", tmp_path / "s.csv", ["angry", "happy", "sad"], 2, 0, responses_csv=resp, corpus="ZED"
    )
    assert got["utt_id"].tolist() == ["z_angry_0", "z_happy_3"]
    # no answers on the SED corpus: the seeded draw, exactly as without responses
    draw = make_subset(tmp_path / "manifest.csv", tmp_path / "d.csv", ["angry", "happy", "sad"], 2, 5)
    again = make_subset(
        tmp_path / "manifest.csv",
        tmp_path / "s.csv",
        ["angry", "happy", "sad"],
        2,
        5,
        responses_csv=resp,
        corpus="NO-ANSWERS",
    )
    pd.testing.assert_frame_equal(draw, again)
    # an answer on an utterance the corpus lacks (or of another emotion): error, or lenient
    _resp([("L1", "ZED", "z_happy_3"), ("L1", "ZED", "ghost")]).to_csv(resp, index=False)
    with pytest.raises(InputError, match=r"line 3: .*'ghost'"):
        make_subset(
            tmp_path / "manifest.csv",
            tmp_path / "s.csv",
            ["angry", "happy", "sad"],
            2,
            0,
            responses_csv=resp,
            corpus="ZED",
        )
    got = make_subset(
        tmp_path / "manifest.csv",
        tmp_path / "s.csv",
        ["angry", "happy", "sad"],
        2,
        0,
        responses_csv=resp,
        corpus="ZED",
        lenient=True,
    )
    assert got["utt_id"].tolist() == ["z_happy_3"]


def test_pinned_ids_with_stray_whitespace_are_found(tmp_path):
    """Issue 31: a cell `' z_sad_4 '` (spreadsheet export) names z_sad_4, not 'no such utterance'."""
    df = zed_manifest()
    df.to_csv(tmp_path / "manifest.csv", index=False)
    pin = tmp_path / "pin.csv"
    pin.write_text("utt_id\n z_sad_4 \nz_angry_1\t\n")
    got = make_subset(tmp_path / "manifest.csv", tmp_path / "s.csv", ["angry", "sad"], 1, 0, pinned_csv=pin)
    assert got["utt_id"].tolist() == ["z_angry_1", "z_sad_4"]
