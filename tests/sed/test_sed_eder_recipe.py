"""xlser's EDER against the ZED recipe as a user runs it: `speechbrain.utils.EDER.EDER`, with
the recipe's reference framing (`zed_prepare.get_labels`) and its padding (`train.py`),
re-written here from their description, independently of `xlser.sed.eder`'s code.

Random cases at the real CNN's frame counts (wav2vec2/WavLM: (samples - 400) // 320 + 1
frames, one or two fewer than the recipe's reference), edge cases (events at 0 or at the
end, predictions longer than the reference), half-frame boundaries of listeners' answers,
and events that overrun the utterance.
"""

from __future__ import annotations

import numpy as np
import pytest
from speechbrain.utils.EDER import EDER

from xlser.sed.eder import interval_frames, n_reference_frames, segment_eder, utterance_eder


def recipe_frame_labels(duration, emo, start, end, win=0.02, stride=0.02):
    """The recipe's frame labels: intervals in time order, a frame takes the first one that
    covers at least half of it (else keeps the last label), the last frame clipped."""
    segs = (
        ([(0.0, start, "n")] if start != 0 else [])
        + [(start, end, emo[0])]
        + ([(end, duration, "n")] if end != duration else [])
    )
    labels = []
    lab = None
    for i in range(int(duration / stride) + 1):
        lo, hi = i * stride, i * stride + win
        last = hi >= duration
        if last:
            lo, hi = max(duration - win, 0), duration
        for s0, s1, name in segs:
            if max(0, min(hi, s1) - max(lo, s0)) >= 0.5 * (hi - lo):
                lab = name
                break
        labels.append(lab)
        if last:
            break
    return labels


def recipe_eder(pred, duration, emo, start, end, win=0.02, stride=0.02):
    """train.py: append one copy of the last frame when shorter than the reference, then EDER."""
    pred = list(pred)
    if len(pred) < len(recipe_frame_labels(duration, emo, start, end, win, stride)):
        pred.append(pred[-1])
    return EDER(pred, "u", duration, [{"emo": emo, "start": start, "end": end}], win, stride)


def cnn_frames(duration, sr=16000):
    return (round(duration * sr) - 400) // 320 + 1


def test_reference_frame_count_is_the_recipes():
    for duration in np.round(np.linspace(0.5, 9.0, 400), 3):
        assert n_reference_frames(float(duration)) == len(recipe_frame_labels(float(duration), "a", 0.1, 0.3))


def test_cnn_frames_are_often_two_short():
    # why the padding rule matters: at ZED's lengths the CNN is 1 or 2 frames short of the reference
    rng = np.random.default_rng(1)
    shorts = [n_reference_frames(d) - cnn_frames(d) for d in np.round(rng.uniform(2, 12, 500), 3)]
    assert set(shorts) == {1, 2}
    assert 0.1 < np.mean(np.equal(shorts, 2)) < 0.5


def test_random_predictions_at_cnn_lengths_score_as_the_recipe():
    rng = np.random.default_rng(0)
    two_short = 0
    for _ in range(300):
        duration = float(np.round(rng.uniform(1.0, 8.0), 3))
        start, end = sorted(np.round(rng.uniform(0, duration, 2), 3))
        if end - start < 0.05:
            continue
        emo = str(rng.choice(["angry", "happy", "sad"]))
        ref = recipe_frame_labels(duration, emo, float(start), float(end))
        n = cnn_frames(duration)
        two_short += len(ref) - n == 2
        # a noisy copy of the reference at the CNN's length: right and wrong frames everywhere
        pred = [r if rng.random() < 0.7 else str(rng.choice(["n", "a", "h", "s"])) for r in ref[:n]]
        ours = utterance_eder(pred, duration, emo, float(start), float(end))
        assert ours == pytest.approx(recipe_eder(pred, duration, emo, float(start), float(end)), abs=1e-12)
    assert two_short > 30  # the cases where the old one-frame-only rule scored differently


@pytest.mark.parametrize("short", [-2, -1, 0, 1, 2, 3, 5])
def test_edge_lengths_and_events_at_the_ends_score_as_the_recipe(short):
    duration = 3.217
    for start, end in [(0.0, 1.5), (1.5, duration), (0.0, duration), (0.013, 0.031), (1.01, 1.03)]:
        ref = recipe_frame_labels(duration, "happy", start, end)
        n = len(ref) - short
        for pred in (ref[:n] + ["h"] * max(0, -short), ["h"] * n, ["n"] * (n - 3) + ["h"] * 3):
            assert utterance_eder(pred, duration, "happy", start, end) == pytest.approx(
                recipe_eder(pred, duration, "happy", start, end), abs=1e-12
            ), (start, end, short)


def test_listener_frames_follow_the_recipes_framing_rule():
    rng = np.random.default_rng(2)
    differ_from_old_rule = 0
    for _ in range(300):
        duration = float(rng.integers(50, 300) * 0.02)
        # a third of the answers on frame edges, a third with ends exactly mid-frame, a third anywhere
        kind = rng.integers(3)
        if kind < 2:
            a0, a1 = sorted(rng.integers(0, round(duration / 0.02), 2) * 0.02 + kind * rng.choice([0.0, 0.01], 2))
        else:
            a0, a1 = sorted(rng.uniform(0, duration, 2))
        a1 = min(float(a1), duration)
        if a1 - a0 < 0.02:
            continue
        ours = interval_frames(duration, float(a0), a1, "s")
        ref = recipe_frame_labels(duration, "sad", float(a0), a1)
        assert ours == ref, (duration, a0, a1)
        differ_from_old_rule += ours != _label_if_half(duration, float(a0), a1)
    assert differ_from_old_rule > 0


def _label_if_half(duration, a0, a1, step=0.02):
    """The rule xlser used before: the emotion whenever it covers at least half a frame."""
    out = []
    for i in range(n_reference_frames(duration)):
        lo, hi = i * step, i * step + step
        if hi >= duration:
            lo, hi = max(duration - step, 0.0), duration
        out.append("s" if max(0.0, min(hi, a1) - max(lo, a0)) >= 0.5 * (hi - lo) else "n")
    return out


def test_half_frame_boundaries_by_hand():
    # exact binary numbers: frames of 0.25 s on 2 s; the answer [0.625, 1.375] cuts frame 2
    # ([0.5, 0.75]) and frame 5 ([1.25, 1.5]) exactly in half. The neutral interval comes
    # first in frame 2 (it stays neutral), the emotion first in frame 5 (it takes the emotion)
    frames = interval_frames(2.0, 0.625, 1.375, "a", 0.25, 0.25)
    assert frames == ["n", "n", "n", "a", "a", "a", "n", "n"]
    # scored against the exact interval: 0.125 s missed at the start, 0.125 s false alarm at the end
    assert segment_eder(2.0, "angry", 0.625, 1.375, "angry", 0.625, 1.375, 0.25, 0.25) == pytest.approx(0.25 / 2)


def test_short_event_inside_one_frame_keeps_the_previous_label():
    # [1.005, 1.012] covers less than half of frame 50 ([1.00, 1.02]) and neither neutral
    # part covers half of it either: the recipe keeps the previous frame's label
    frames = interval_frames(2.0, 1.005, 1.012, "h")
    assert frames == recipe_frame_labels(2.0, "happy", 1.005, 1.012)
    assert set(frames) == {"n"}
    frames = interval_frames(2.0, 0.5, 1.012, "h")  # the emotion runs up to that frame
    assert frames[49:52] == ["h", "h", "n"] == recipe_frame_labels(2.0, "happy", 0.5, 1.012)[49:52]


def test_event_past_the_end_is_clamped_and_eder_never_negative():
    duration = 2.51  # the last frame, [2.50, 2.52], runs past the end
    n = n_reference_frames(duration)
    all_angry = ["a"] * n
    # unclamped, speechbrain credits the overrun: 1 - 2.52 / 2.51 < 0
    assert EDER(all_angry, "u", duration, [{"emo": "angry", "start": 0.0, "end": 2.53}], 0.02, 0.02) == pytest.approx(
        1 - 2.52 / 2.51
    )
    assert utterance_eder(all_angry, duration, "angry", 0.0, 2.53) == 0.0
    pred = ["n"] * 50 + ["a"] * (n - 50)
    for overrun in (0.001, 0.02, 0.049):
        assert utterance_eder(pred, duration, "angry", 1.0, duration + overrun) == pytest.approx(
            recipe_eder(pred, duration, "angry", 1.0, duration), abs=1e-12
        )
    rng = np.random.default_rng(3)
    for _ in range(200):
        start = float(rng.uniform(0, duration - 0.1))
        pred = [str(rng.choice(["n", "a"])) for _ in range(n - int(rng.integers(0, 3)))]
        assert utterance_eder(pred, duration, "angry", start, duration + float(rng.uniform(0, 0.05))) >= 0.0


def test_empty_event_inside_the_utterance_is_an_error():
    with pytest.raises(ValueError, match="u7: emotion event .* is empty"):
        utterance_eder(["n"] * 10, 0.2, "angry", 0.25, 0.3, utt_id="u7")
