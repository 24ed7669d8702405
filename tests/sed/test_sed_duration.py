"""Which duration EDER is scored with (ZED.json's, as the recipe) and events past the audio:
read by the ZED adapter, carried through the manifest into the SED subset, clamped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fixtures_corpora import tone
from xlser.data.corpora import scan_corpus
from xlser.data.manifest import read_manifest, write_manifest
from xlser.errors import InputError
from xlser.sed.eder import n_reference_frames, utterance_eder
from xlser.sed.subset import select_subset

EMO = ["angry", "happy", "sad", "neutral"]


def zed(root: Path, entries: dict[str, tuple[float | None, float, float]]) -> Path:
    """1.0 s wavs; entries: utt -> (ZED.json duration or None, start, end)."""
    data = {}
    for utt, (duration, start, end) in entries.items():
        tone(root / "audio" / f"{utt}.wav", seconds=1.0)
        data[utt] = {"wav": f"datafolder/audio/{utt}.wav", "emotion": [{"emo": "happy", "start": start, "end": end}]}
        if duration is not None:
            data[utt]["duration"] = duration
    (root / "ZED.json").write_text(json.dumps(data))
    return root


def test_zed_json_duration_is_kept_and_events_past_it_clamped(tmp_path):
    root = zed(tmp_path / "ZED", {"s1_a": (0.98, 0.2, 1.02), "s1_b": (None, 0.1, 1.04), "s1_c": (1.0, 0.3, 0.7)})
    df = scan_corpus("ZED", {"format": "zed", "root": str(root), "lang": "EN"}, EMO).set_index("utt_id")
    assert df.loc["s1_a", "duration_s"] == 1.0  # the audio's, for extraction and batching
    assert df.loc["s1_a", "seg_duration"] == 0.98  # ZED.json's, for EDER
    assert df.loc["s1_a", "seg_end"] == 0.98  # 1.02 clamped to it
    assert (df.loc["s1_b", "seg_duration"], df.loc["s1_b", "seg_end"]) == (1.0, 1.0)  # no duration: the audio's
    assert (df.loc["s1_c", "seg_start"], df.loc["s1_c", "seg_end"]) == (0.3, 0.7)
    # through the manifest into the subset: duration_s there is the scoring duration
    write_manifest(df.reset_index(), tmp_path / "manifest.csv")
    sub = select_subset(read_manifest(tmp_path / "manifest.csv"), ["happy"], 3, seed=0).set_index("utt_id")
    assert sub.loc["s1_a", "duration_s"] == 0.98 and sub.loc["s1_c", "duration_s"] == 1.0
    # scored with 0.98 s: 49 reference frames, the event clamped, EDER of the perfect prediction 0
    frames = ["n"] * 10 + ["h"] * (n_reference_frames(0.98) - 10)
    assert utterance_eder(frames, sub.loc["s1_a", "duration_s"], "happy", 0.2, 1.02) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    "entry,message",
    [
        ((1.0, 0.2, 1.06), r"entry 's2_x': segment \[0.2, 1.06\] is not inside the utterance \(0 - 1.000 s"),
        ((0.96, 0.2, 1.02), r"entry 's2_x': segment \[0.2, 1.02\] is not inside the utterance \(0 - 0.960 s"),
        ((1.2, 0.2, 0.9), r"entry 's2_x': duration 1.2 s does not match its audio \(1.000 s"),
        ((0.9, 0.2, 0.5), r"entry 's2_x': duration 0.9 s does not match"),
        (("long", 0.2, 0.5), r"entry 's2_x': duration 'long' is not a number"),
    ],
)
def test_durations_and_segments_out_of_bounds_are_named(tmp_path, entry, message):
    root = zed(tmp_path / "ZED", {"s2_x": entry})
    with pytest.raises(InputError, match=message) as err:
        scan_corpus("ZED", {"format": "zed", "root": str(root), "lang": "EN"}, EMO)
    assert "ZED.json" in str(err.value)


def test_subset_without_seg_duration_uses_the_audio_duration():
    df = pd.DataFrame(
        [
            {
                "utt_id": "u1",
                "corpus": "Z",
                "lang": "EN",
                "speaker": "s",
                "emotion": "sad",
                "path": "/a.wav",
                "duration_s": 3.0,
                "sample_rate": 16000,
                "seg_start": 1.0,
                "seg_end": 2.0,
            }
        ]
    )
    assert select_subset(df, ["sad"], 1, 0)["duration_s"].tolist() == [3.0]
