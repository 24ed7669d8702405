"""Table IV: hand-computed EDER per model and listener group; the timeline figure is drawn."""

from __future__ import annotations

import json
from importlib.resources import files

import pandas as pd
import pytest

from xlser.errors import InputError
from xlser.sed.eder import interval_frames
from xlser.sed.table4 import make_table4


def test_table4_numbers_and_layout(tmp_path):
    subset = pd.DataFrame(
        [
            {
                "utt_id": "u1",
                "emotion": "angry",
                "seg_start": 2.0,
                "seg_end": 4.0,
                "duration_s": 6.0,
                "path": "/a/u1.wav",
            },
            {
                "utt_id": "u2",
                "emotion": "sad",
                "seg_start": 1.0,
                "seg_end": 3.0,
                "duration_s": 5.0,
                "path": "/a/u2.wav",
            },
        ]
    )
    subset.to_csv(tmp_path / "subset.csv", index=False)
    perfect = "".join(interval_frames(6.0, 2.0, 4.0, "a", n_frames=299))
    doc = {
        "model": "WavLM",
        "window": 0.02,
        "stride": 0.02,
        "utterances": {"u1": {"frames": perfect}, "u2": {"frames": "n" * 249}},
    }
    (tmp_path / "frames.json").write_text(json.dumps(doc))
    rows = [
        ("L1", "CN", "ZED", "u1", "angry", 2.5, 4.5),  # shifted 0.5 s: EDER 1/6
        ("L2", "CN", "ZED", "u1", "neutral", None, None),  # all neutral: 1/3
        ("L1", "CN", "ZED", "u2", "sad", 1.0, 3.0),  # perfect: 0
        ("L3", "DE", "ZED", "u1", "happy", 2.0, 4.0),  # confusion: 1/3
        ("L3", "DE", "OTHER", "u2", "sad", None, None),  # another corpus: ignored
        ("L3", "DE", "ZED", "u9", "sad", 0.0, 1.0),  # not in the subset: an error, or (lenient) left out
    ]
    resp = pd.DataFrame(
        [
            {
                "listener": l,
                "group": g,
                "corpus": c,
                "utt_id": u,
                "true": "x",
                "pred": p,
                "seg_start": s,
                "seg_end": e,
                "simulated": True,
            }
            for l, g, c, u, p, s, e in rows
        ]
    )
    resp.to_csv(tmp_path / "responses.csv", index=False)
    stem = tmp_path / "tables" / "table4_eder"
    fig = tmp_path / "figures" / "sed_timeline.png"
    with pytest.raises(
        InputError,
        match=r"responses.csv, line 7: 1 listener answer\(s\) on utterances outside "
        r"the SED subset, first 'u9'",
    ):
        make_table4(
            [tmp_path / "frames.json"],
            tmp_path / "subset.csv",
            tmp_path / "responses.csv",
            stem,
            fig,
            ["angry", "happy", "sad"],
            "ZED",
        )
    assert not stem.with_suffix(".csv").exists()
    table = make_table4(
        [tmp_path / "frames.json"],
        tmp_path / "subset.csv",
        tmp_path / "responses.csv",
        stem,
        fig,
        ["angry", "happy", "sad"],
        "ZED",
        lenient=True,
    )
    t = table.set_index("emotion")
    assert list(t.columns) == ["WavLM", "CN listeners", "DE listeners"]
    assert list(t.index) == ["angry", "happy", "sad", "average"]
    assert t.loc["angry", "WavLM"] == pytest.approx(0.0, abs=0.01)
    assert t.loc["sad", "WavLM"] == pytest.approx(40.0, abs=0.01)
    assert t.loc["average", "WavLM"] == pytest.approx(20.0, abs=0.01)
    assert t.loc["angry", "CN listeners"] == pytest.approx(100 * (1 / 6 + 1 / 3) / 2, abs=0.01)  # listeners, then utts
    assert t.loc["sad", "CN listeners"] == pytest.approx(0.0, abs=0.01)
    assert t.loc["average", "CN listeners"] == pytest.approx(12.5, abs=0.01)
    assert t.loc["angry", "DE listeners"] == pytest.approx(100 / 3, abs=0.01)
    assert pd.isna(t.loc["happy", "WavLM"]) and pd.isna(t.loc["sad", "DE listeners"])
    csv = pd.read_csv(stem.with_suffix(".csv")).set_index("emotion")
    assert csv.loc["average", "all neutral"] == pytest.approx(100 * (2 / 6 + 2 / 5) / 2, abs=0.01)
    # the study's values beside ours: its model after our models, each group's after ours
    assert list(csv.columns) == [
        "WavLM",
        "WavLM (study)",
        "CN listeners",
        "CN listeners (study)",
        "DE listeners",
        "DE listeners (study)",
        "all neutral",
    ]
    study = pd.read_csv(files("xlser") / "data" / "study_table4.csv").set_index("emotion")
    for col in ("WavLM", "CN listeners", "DE listeners"):
        pd.testing.assert_series_equal(csv[f"{col} (study)"], study[col], check_names=False)
    assert csv.loc["sad", "DE listeners (study)"] == 28.3
    md = stem.with_suffix(".md").read_text()
    assert "| angry | 0.0 | 36.6 | 25.0 | 25.8 | 33.3 | 27.5 | 33.3 |" in md
    assert "\\toprule" in stem.with_suffix(".tex").read_text()
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 5000
