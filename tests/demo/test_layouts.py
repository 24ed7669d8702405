"""The layout writers (xlser.demo.layouts) that the demo, the rehearsal and the fixtures share:
what they write is what the adapters read, from samples or from pre-encoded bytes."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from xlser.data.corpora import scan_corpus
from xlser.demo.layouts import Clip, IemocapTurn, TableUtterance, write_iemocap, write_table

EMO = ["angry", "happy", "neutral", "sad"]


def _tone(n: int, sr: int) -> np.ndarray:
    """A 220 Hz tone: a recording of one value throughout is no speech, and the scan leaves it out."""
    return (0.1 * np.sin(2 * np.pi * 220 * np.arange(n) / sr)).astype(np.float32)


def _clip(seconds: float, sr: int = 16000) -> Clip:
    return Clip(_tone(int(seconds * sr), sr), sr)


def test_iemocap_turns_without_times_follow_one_another(tmp_path):
    buf = io.BytesIO()
    sf.write(buf, _tone(8000, 16000), 16000, format="WAV", subtype="PCM_16")
    turns = [
        IemocapTurn("Ses02M_impro01_F000", "neu", _clip(1.0)),
        IemocapTurn("Ses02M_impro01_M000", "ang", buf.getvalue(), vad=(1.5, 4.0, 4.0)),  # 0.5 s, encoded
        IemocapTurn("Ses02M_impro01_F001", "sad", _clip(0.25), span=(9.0, 9.75)),
    ]
    assert write_iemocap(tmp_path, turns, evaluations="C-E1:\tNeutral;\t()\n\n") == 3
    ev = (tmp_path / "Session2" / "dialog" / "EmoEvaluation" / "Ses02M_impro01.txt").read_text().splitlines()
    assert [line for line in ev if line.startswith("[")] == [
        "[0.0000 - 1.0000]\tSes02M_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]",
        "[1.5000 - 2.0000]\tSes02M_impro01_M000\tang\t[1.5000, 4.0000, 4.0000]",
        "[9.0000 - 9.7500]\tSes02M_impro01_F001\tsad\t[2.5000, 2.5000, 2.5000]",
    ]
    df = scan_corpus("I", {"format": "iemocap", "root": str(tmp_path), "lang": "EN"}, EMO).set_index("utt_id")
    assert df["emotion"].to_dict() == {
        "Ses02M_impro01_F000": "neutral",
        "Ses02M_impro01_M000": "angry",
        "Ses02M_impro01_F001": "sad",
    }
    assert df.loc["Ses02M_impro01_M000", "speaker"] == "Ses02M"


def test_table_quotes_what_needs_quoting(tmp_path):
    rows = [
        TableUtterance("a", "S1", "angry", 'he said "no", twice', _clip(0.3)),
        TableUtterance("b", "S2", "sad", "plain", _clip(0.3), path="audio/b.wav"),
    ]
    assert write_table(tmp_path, rows, "meta/labels.csv") == 2
    cfg = {"format": "csv", "root": str(tmp_path), "lang": "EN", "table": "meta/labels.csv"}
    df = scan_corpus("T", cfg, EMO).set_index("utt_id")
    assert df.loc["a", "text"] == 'he said "no", twice' and df.loc["a", "path"].endswith("wav/a.wav")
    assert df.loc["b", "path"].endswith("audio/b.wav") and df.loc["b", "emotion"] == "sad"
