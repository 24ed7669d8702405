"""Listening-test ingestion: webMUSHRA lss.csv + long CSVs -> responses; every bad-input case."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from xlser.errors import InputError
from xlser.human.ingest import ingest, manifests_by_corpus

EMO = ["angry", "happy", "neutral", "sad"]
LSS_HEADER = "session_test_id,email,age,gender,trial_id,stimuli_rating,stimuli,rating_time\n"


def _manifest(root: Path, corpus: str, lang: str, utts: dict[str, str], dur: float = 2.0) -> Path:
    d = root / "corpora" / corpus
    d.mkdir(parents=True)
    pd.DataFrame(
        {
            "utt_id": list(utts),
            "corpus": corpus,
            "lang": lang,
            "speaker": "s1",
            "emotion": list(utts.values()),
            "path": [f"/x/{u}.wav" for u in utts],
            "duration_s": dur,
            "sample_rate": 16000,
        }
    ).to_csv(d / "manifest.csv", index=False)
    return d / "manifest.csv"


@pytest.fixture
def setup(tmp_path: Path) -> dict:
    m1 = _manifest(tmp_path, "C-CN", "CN", {"u1": "angry", "u2": "happy"})
    m2 = _manifest(tmp_path, "C-ZED", "EN", {"z1": "sad"}, dur=3.0)
    (tmp_path / "listeners.csv").write_text("listener,group,gender,background\nL1,CN,f,x\nL2,DE,m,y\n")
    (tmp_path / "stimuli.csv").write_text("stimulus,corpus,utt_id\nS1,C-CN,u1\nS2,C-CN,u2\n")
    lss = tmp_path / "t1" / "lss.csv"
    lss.parent.mkdir()
    lss.write_text(
        LSS_HEADER
        + 't1,L1,25,f,ser," angry ",S1,1200\n'
        + 't1,L1,25,f,ser," Neutral ",S2,900\n'
        + 't1,L2,30,m,ser," happy ",S2,800\n'
        + "t1,L2,30,m,ser,NA,S1,100\n"
    )
    long = tmp_path / "seg.csv"
    long.write_text("listener,group,corpus,utt_id,pred,seg_start,seg_end\nL1,CN,C-ZED,z1,sad,0.5,2.5\n")
    return {
        "lss": [lss],
        "long": [long],
        "listeners": tmp_path / "listeners.csv",
        "stimuli": tmp_path / "stimuli.csv",
        "manifests": manifests_by_corpus([m1, m2]),
        "root": tmp_path,
    }


def _run(s: dict, **kw):
    """Ingest the fixture; L2 answered 1 of the 2 trials given to group DE, so the tests that
    are not about completeness accept half (`min_answered=0.5`) unless they say otherwise."""
    kw.setdefault("min_answered", 0.5)
    return ingest(s["lss"], s["long"], s["listeners"], s["stimuli"], s["manifests"], EMO, **kw)


def test_ingest_webmushra_and_long(setup):
    df, drops = _run(setup, simulated=True)
    assert not drops
    # NA answer skipped; padded / capitalised ratings normalised; truth from the manifests
    assert len(df) == 4
    got = {(r.listener, r.utt_id): (r.group, r.true, r.pred) for r in df.itertuples()}
    assert got[("L1", "u1")] == ("CN", "angry", "angry")
    assert got[("L1", "u2")] == ("CN", "happy", "neutral")
    assert got[("L2", "u2")] == ("DE", "happy", "happy")
    seg = df[df["corpus"] == "C-ZED"].iloc[0]
    assert (seg["seg_start"], seg["seg_end"], seg["true"]) == (0.5, 2.5, "sad")
    assert df.loc[df["corpus"] == "C-CN", "seg_start"].isna().all()
    assert df["simulated"].all()


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + line)


@pytest.mark.parametrize(
    "kind,line,fragment",
    [
        ("lss", 't1,L1,25,f,ser," happy ",S9,100\n', "stimulus 'S9'"),
        ("lss", 't1,L1,25,f,ser," bored ",S1,100\n', "not one of"),
        ("lss", 't1,L7,25,f,ser," happy ",S1,100\n', "listener 'L7'"),
        ("lss", 't1,L1,25,f,ser," happy ",S1,100\n', "twice"),
        ("long", "L1,CN,C-ZED,z9,sad,0.5,1.0\n", "not in the manifest"),
        ("long", "L2,DE,C-ZED,z1,sad,2.0,1.0\n", "seg_start <= seg_end"),
        ("long", "L2,DE,C-ZED,z1,sad,1.0,3.5\n", "past the utterance"),
        ("long", "L2,DE,C-ZED,z1,sad,nan,2.0\n", "finite numbers"),  # not an utterance-level answer
        ("long", "L2,DE,C-ZED,z1,sad,nan,nan\n", "finite numbers"),
        ("long", "L2,DE,C-ZED,z1,sad,0.5,inf\n", "finite numbers"),
        ("long", "L2,DE,C-ZED,z1,sad,1.0s,2.0\n", "finite numbers"),
    ],
)
def test_bad_input_names_file_and_line(setup, kind, line, fragment):
    path = setup[kind][0]
    _append(path, line)
    n_lines = len(path.read_text().splitlines())
    with pytest.raises(InputError) as err:
        _run(setup)
    assert str(path) in str(err.value) and f"line {n_lines}" in str(err.value) and fragment in str(err.value)
    df, drops = _run(setup, lenient=True)
    assert sum(drops.values()) == 1 and len(df) == 4


def test_lenient_counts_every_drop(setup):
    _append(setup["lss"][0], 't1,L1,25,f,ser," happy ",S9,100\nt1,L7,25,f,ser," happy ",S1,100\n')
    _append(setup["long"][0], "L2,DE,C-ZED,z1,sad,2.0,1.0\n")
    df, drops = _run(setup, lenient=True)
    assert dict(drops) == {"unknown stimulus": 1, "unknown listener": 1, "bad segment": 1}
    assert len(df) == 4


def test_custom_listener_column(setup):
    lss = setup["lss"][0]
    lss.write_text(lss.read_text().replace("email", "name"))
    with pytest.raises(InputError, match="missing column"):
        _run(setup)
    df, _ = _run(setup, listener_column="name")
    assert set(df["listener"]) == {"L1", "L2"}


def test_nan_segment_start_is_not_an_utterance_answer(setup):
    """`nan` parses as a float: before, the answer entered the responses with seg_start NaN,
    i.e. as an utterance-level answer on the SED corpus."""
    setup["long"][0].write_text("listener,group,corpus,utt_id,pred,seg_start,seg_end\nL1,CN,C-ZED,z1,sad,nan,nan\n")
    with pytest.raises(InputError, match=r"seg.csv, line 2: seg_start/seg_end must be finite"):
        _run(setup)


def test_incomplete_listener_stops_ingestion_naming_listener_and_file(setup):
    # L2 (DE) was given S1 and S2 and answered S2 only (S1: NA)
    with pytest.raises(InputError) as err:
        _run(setup, min_answered=1.0)
    msg = str(err.value)
    assert str(setup["lss"][0]) in msg and "listener 'L2' answered 1 of the 2 trials presented to group DE" in msg
    assert "human.min_answered = 1 needs 2" in msg
    # the schema's default is all trials: ingest's own default too
    with pytest.raises(InputError, match="'L2' answered 1 of the 2"):
        ingest(setup["lss"], setup["long"], setup["listeners"], setup["stimuli"], setup["manifests"], EMO)


def test_listener_without_answers_is_an_error_not_dropped(setup):
    listeners = setup["listeners"]
    listeners.write_text(listeners.read_text() + "L3,CN,f,z\n")
    with pytest.raises(InputError) as err:
        _run(setup)
    # CN listeners were given u1, u2 (lss) and z1 (segments): L3 answered none of the 3
    assert f"{listeners}: listener 'L3' answered 0 of the 3 trials presented to group CN" in str(err.value)
    df, _ = _run(setup, min_answered=0.0)
    assert "L3" not in set(df["listener"])


def test_incomplete_listeners_are_logged(setup, caplog):
    caplog.set_level("WARNING", logger="xlser.human.ingest")
    _run(setup, min_answered=0.5)
    assert "listener L2 (group DE): 1 of 2 trials answered (50 %)" in caplog.text
    assert "listener L1" not in caplog.text  # L1 answered all 3 trials of group CN


def test_listener_id_mangled_by_webmushra_names_the_likely_listener(setup):
    """webMUSHRA posts unencoded: `cn+1@x.org` arrives as `cn 1@x.org`."""
    listeners = setup["listeners"]
    listeners.write_text(listeners.read_text() + "cn+1@x.org,CN,f,z\n")
    lss = setup["lss"][0]
    lss.write_text(lss.read_text() + 't1,cn 1@x.org,25,f,ser," angry ",S1,100\n')
    with pytest.raises(InputError) as err:
        _run(setup)
    msg = str(err.value)
    assert f"{lss}, line 6: listener 'cn 1@x.org' is not in the listener metadata" in msg
    assert "did you mean 'cn+1@x.org'?" in msg and "@._-" in msg
    lss.write_text(lss.read_text() + 't1,L11,25,f,ser," angry ",S1,100\n')  # no likely one: no guess
    _, drops = _run(setup, lenient=True, min_answered=0.0)
    assert drops["unknown listener"] == 2


def test_listener_ids_webmushra_mangles_are_warned_about(setup, caplog):
    from xlser.human.ingest import read_listeners

    setup["listeners"].write_text("listener,group\ncn+1@x.org,CN\na&b,CN\nok.id-1@x_y,CN\n")
    caplog.set_level("WARNING", logger="xlser.human.ingest")
    read_listeners(setup["listeners"])
    assert "['cn+1@x.org', 'a&b']" in caplog.text


def test_long_csv_answers_need_no_stimulus_table(setup):
    """A long CSV names corpus and utterance: no stimulus table is read (before: 'no stimulus table')."""
    df, _ = ingest([], setup["long"], setup["listeners"], [], setup["manifests"], EMO, min_answered=0.0)
    assert list(df["utt_id"]) == ["z1"]
    missing = setup["root"] / "nowhere.csv"
    df, _ = ingest([], setup["long"], setup["listeners"], missing, setup["manifests"], EMO, min_answered=0.0)
    assert len(df) == 1


# ---- issue 31: one spelling of labels and codes


def test_answers_in_another_spelling_score_as_the_configured_emotions(tmp_path):
    """`emotions: [Angry, Happy, Neutral, Sad]`: the kit records `Angry`, webMUSHRA's answers are
    read lower-cased and padded; listeners who answered every stimulus right score 100 %, not 0 %.
    A listener group `cn` of a corpus in language `CN` is that corpus's group."""
    from xlser.human.tables import table2

    emotions = ["Angry", "Happy", "Neutral", "Sad"]
    truth = {"u1": "Angry", "u2": "Happy", "u3": "Neutral", "u4": "Sad"}
    man = _manifest(tmp_path, "C-CN", "CN", truth)
    (tmp_path / "listeners.csv").write_text("listener,group\nL1,cn\nL2, Cn \n")
    (tmp_path / "stimuli.csv").write_text("stimulus,corpus,utt_id\n" + "".join(f"S{u},C-CN,{u}\n" for u in truth))
    lss = tmp_path / "t1" / "lss.csv"
    lss.parent.mkdir()
    spellings = {"L1": str, "L2": lambda e: f" {e.upper()} "}  # as recorded; upper-cased and padded
    lss.write_text(
        LSS_HEADER
        + "".join(
            f"t1,{lis},25,f,ser,{spell(e)},S{u},900\n" for lis, spell in spellings.items() for u, e in truth.items()
        )
    )
    df, _ = ingest(
        [lss], [], tmp_path / "listeners.csv", tmp_path / "stimuli.csv", manifests_by_corpus([man]), emotions
    )
    assert set(df["pred"]) == set(emotions) and (df["true"] == df["pred"]).all()
    assert set(df["group"]) == {"CN"}  # the corpora's spelling of the code
    table, raw = table2(df, {"C-CN": {"lang": "CN"}}, emotions)
    assert list(table.columns[:2]) == ["listeners", "CN"]
    assert raw["ua_mean"].tolist() == [100.0] and list(raw["group"]) == ["CN"]
    assert raw["study_ua"].notna().all()  # the study's CN listeners on CN data, matched


def test_an_answer_outside_the_emotions_is_named_in_their_spelling(tmp_path):
    man = _manifest(tmp_path, "C-CN", "CN", {"u1": "Angry"})
    (tmp_path / "listeners.csv").write_text("listener,group\nL1,CN\n")
    long = tmp_path / "long.csv"
    long.write_text("listener,group,corpus,utt_id,pred,seg_start,seg_end\nL1,cn,C-CN,u1,furious,,\n")
    with pytest.raises(InputError, match=r"long\.csv, line 2: answer 'furious' is not one of \['Angry', 'Sad'\]"):
        ingest([], [long], tmp_path / "listeners.csv", [], manifests_by_corpus([man]), ["Angry", "Sad"])
