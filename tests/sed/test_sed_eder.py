"""EDER: speechbrain's documented example, hand-computed cases, the ZED recipe's padding, and
the frame route for listeners' intervals against an exact interval computation."""

from __future__ import annotations

import numpy as np
import pytest

from xlser.sed.eder import (
    interval_eder,
    interval_frames,
    letter_map,
    n_reference_frames,
    pad_prediction,
    segment_eder,
    utterance_eder,
)


def test_speechbrain_docstring_example():
    # speechbrain/utils/EDER.py: EDER(["n","n","n","a","a","a"], "spk1_1", 1.22, angry 0.39-1.10, 0.2, 0.2)
    value = utterance_eder(["n", "n", "n", "a", "a", "a"], 1.22, "angry", 0.39, 1.10, 0.2, 0.2, "spk1_1")
    assert value == pytest.approx(0.2704918032786885, abs=1e-12)
    # by hand: right = neutral [0, 0.39] + angry [0.6, 1.10] = 0.89 of 1.22 s
    assert value == pytest.approx(1 - 0.89 / 1.22)


def frames_for(duration, lab, start, end, stride=0.02):
    return interval_frames(duration, start, end, lab, stride, stride, n_frames=round(duration / stride))


@pytest.mark.parametrize(
    "pred,expected",
    [
        (("n", None, None), 2 / 6),  # all neutral: the emotional 2 s are missed
        (("a", 2.0, 4.0), 0.0),  # perfect
        (("a", 2.5, 4.5), 1 / 6),  # boundary shifted by 0.5 s: 0.5 missed + 0.5 false alarm
        (("h", 2.0, 4.0), 2 / 6),  # right place, wrong emotion (confusion)
        (("h", 2.5, 4.5), 2.5 / 6),  # confusion on 1.5 s + false alarm on 0.5 s + missed 0.5 s
        (("a", 0.0, 6.0), 4 / 6),  # everything angry: 4 s of false alarm
    ],
)
def test_hand_computed_cases(pred, expected):
    lab, s, e = pred
    frames = frames_for(6.0, lab, s, e)
    assert utterance_eder(frames, 6.0, "angry", 2.0, 4.0) == pytest.approx(expected, abs=1e-9)
    assert interval_eder(
        6.0, "angry", 2.0, 4.0, {"n": "neutral", "a": "angry", "h": "happy"}[lab], s, e
    ) == pytest.approx(expected, abs=1e-9)


def test_prediction_short_by_any_amount_gets_one_copy_of_its_last_frame():
    # 1.22 s at 0.02 s: the recipe makes 61 reference frames; the CNN gives 60 or 59
    assert n_reference_frames(1.22) == 61
    pred = ["n"] * 30 + ["a"] * 29
    assert pad_prediction(pred, 60) == pred + ["a"]
    assert pad_prediction(pred, 61) == pred + ["a"]  # two short: still one frame, as train.py does
    assert pad_prediction(pred, 62) == pred + ["a"]
    assert pad_prediction(pred, 59) == pred and pad_prediction(pred, 50) == pred  # never trimmed
    # two frames short (59 of 61) of a reference angry from 0.6 s to the end: one frame
    # appended covers [1.18, 1.20]; [1.20, 1.22] stays unpredicted, 0.02 s of 1.22 missed
    assert utterance_eder(pred, 1.22, "angry", 0.6, 1.22) == pytest.approx(0.02 / 1.22, abs=1e-9)
    # not padded (the old rule), the last 0.04 s would be missed
    assert utterance_eder(pred, 1.22, "angry", 0.6, 1.22) < 0.04 / 1.22 - 1e-6


def test_reference_frame_count_follows_zed_prepare():
    # zed_prepare.get_labels: frames until the window reaches the end, last one clipped
    assert n_reference_frames(1.22, 0.2, 0.2) == 7
    assert n_reference_frames(1.0) == 50
    assert n_reference_frames(1.01) == 51


def test_listener_intervals_on_frame_edges_equal_exact_intervals():
    rng = np.random.default_rng(0)
    for _ in range(40):
        dur = rng.integers(100, 400) * 0.02
        s, e = sorted(rng.integers(0, round(dur / 0.02), 2) * 0.02)
        a0, a1 = sorted(rng.integers(0, round(dur / 0.02), 2) * 0.02)
        if e - s < 0.02:
            continue
        answer = str(rng.choice(["angry", "happy", "sad"]))
        via_frames = segment_eder(dur, "sad", s, e, answer, a0, a1)
        assert via_frames == pytest.approx(interval_eder(dur, "sad", s, e, answer, a0, a1), abs=1e-6)


def test_listener_interval_off_frame_edges_is_within_a_frame():
    exact = interval_eder(5.0, "happy", 1.013, 3.337, "happy", 1.251, 3.009)
    framed = segment_eder(5.0, "happy", 1.013, 3.337, "happy", 1.251, 3.009)
    assert exact == pytest.approx((0.238 + 0.328) / 5.0)
    assert abs(framed - exact) <= 2 * 0.02 / 5.0


def test_emotions_must_differ_in_first_letter():
    assert letter_map(["angry", "happy", "sad"]) == {"n": "neutral", "a": "angry", "h": "happy", "s": "sad"}
    with pytest.raises(ValueError, match="share the label 's'"):
        letter_map(["sad", "surprise"])
