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
    pd.DataFrame({"utt_id": list(utts), "corpus": corpus, "lang": lang, "speaker": "s1",
                  "emotion": list(utts.values()), "path": [f"/x/{u}.wav" for u in utts],
                  "duration_s": dur, "sample_rate": 16000}).to_csv(d / "manifest.csv", index=False)
    return d / "manifest.csv"


@pytest.fixture
def setup(tmp_path: Path) -> dict:
    m1 = _manifest(tmp_path, "C-CN", "CN", {"u1": "angry", "u2": "happy"})
    m2 = _manifest(tmp_path, "C-ZED", "EN", {"z1": "sad"}, dur=3.0)
    (tmp_path / "listeners.csv").write_text("listener,group,gender,background\nL1,CN,f,x\nL2,DE,m,y\n")
    (tmp_path / "stimuli.csv").write_text("stimulus,corpus,utt_id\nS1,C-CN,u1\nS2,C-CN,u2\n")
    lss = tmp_path / "t1" / "lss.csv"
    lss.parent.mkdir()
    lss.write_text(LSS_HEADER
                   + "t1,L1,25,f,ser,\" angry \",S1,1200\n"
                   + "t1,L1,25,f,ser,\" Neutral \",S2,900\n"
                   + "t1,L2,30,m,ser,\" happy \",S2,800\n"
                   + "t1,L2,30,m,ser,NA,S1,100\n")
    long = tmp_path / "seg.csv"
    long.write_text("listener,group,corpus,utt_id,pred,seg_start,seg_end\nL1,CN,C-ZED,z1,sad,0.5,2.5\n")
    return {"lss": [lss], "long": [long], "listeners": tmp_path / "listeners.csv",
            "stimuli": tmp_path / "stimuli.csv", "manifests": manifests_by_corpus([m1, m2]), "root": tmp_path}


def _run(s: dict, **kw):
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


@pytest.mark.parametrize("kind,line,fragment", [
    ("lss", "t1,L1,25,f,ser,\" happy \",S9,100\n", "stimulus 'S9'"),
    ("lss", "t1,L1,25,f,ser,\" bored \",S1,100\n", "not one of"),
    ("lss", "t1,L7,25,f,ser,\" happy \",S1,100\n", "listener 'L7'"),
    ("lss", "t1,L1,25,f,ser,\" happy \",S1,100\n", "twice"),
    ("long", "L1,CN,C-ZED,z9,sad,0.5,1.0\n", "not in the manifest"),
    ("long", "L2,DE,C-ZED,z1,sad,2.0,1.0\n", "seg_start <= seg_end"),
    ("long", "L2,DE,C-ZED,z1,sad,1.0,3.5\n", "past the utterance"),
])
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
    _append(setup["lss"][0], "t1,L1,25,f,ser,\" happy \",S9,100\nt1,L7,25,f,ser,\" happy \",S1,100\n")
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
