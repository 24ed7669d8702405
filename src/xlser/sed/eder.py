"""Emotion Diarization Error Rate (EDER) as speechbrain defines it, for model frames and listeners.

EDER = (missed emotion + false alarm + overlap + confusion) / duration, i.e. one minus the
share of the utterance whose label (neutral or the emotion) is right. The arithmetic is
`speechbrain.utils.EDER.EDER` itself, which assumes exactly one emotion event per
utterance (ZED's design). What this module adds is the ZED recipe's glue around it
(speechbrain's `recipes/ZaionEmotionDataset/emotion_diarization`), so that our numbers are
the ones a user of that recipe gets:

* labels are single letters, the first letter of the emotion word (`speechbrain` takes
  `emo[0]`), so the emotions scored must have distinct first letters;
* the reference frame count follows the recipe's `zed_prepare.get_labels`, and a prediction
  shorter than it, by any amount, gets ONE copy of its last frame appended, as the
  recipe's `train.py` does before calling EDER (an encoder with a 400-sample receptive
  field yields one or two frames fewer than that count, depending on the length);
* the duration is the one the caller passes: for ZED, `ZED.json`'s `duration` (what the
  recipe scores with; `xlser.data.corpora.zed` keeps it as `seg_duration`); an event
  ending after it (annotations may overrun the audio by a few ms) is clamped to it, so
  the reference covers exactly [0, duration] and EDER is never negative;
* a listener's answer (one marked interval and an emotion; the rest neutral) is turned
  into frames at the model's window/stride with the recipe's rule (a frame takes the label
  of the FIRST interval, in time order, that covers at least half of it; so a frame cut
  exactly in half by an answer's start stays neutral and one cut by its end takes the
  emotion), so humans and models are scored by the same code at the same resolution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from speechbrain.utils.EDER import EDER

NEUTRAL = "n"


def letter(emotion: str) -> str:
    """The single-letter label speechbrain uses for an emotion word ('angry' -> 'a')."""
    emotion = str(emotion).strip().lower()
    if not emotion:
        raise ValueError("empty emotion label")
    return emotion[0]


def letter_map(emotions: Iterable[str]) -> dict[str, str]:
    """letter -> emotion word for `emotions` plus neutral; errors on colliding first letters."""
    out: dict[str, str] = {NEUTRAL: "neutral"}
    for emo in emotions:
        key = letter(emo)
        if key in out and out[key] != emo:
            raise ValueError(
                f"emotions '{out[key]}' and '{emo}' share the label '{key}': speechbrain's EDER "
                "tells emotions apart by their first letter; rename one (label_map)"
            )
        out[key] = emo
    return out


def n_reference_frames(duration: float, window: float = 0.02, stride: float = 0.02) -> int:
    """Number of reference frames `zed_prepare.get_labels` makes for an utterance of `duration` s."""
    n = int(duration / stride) + 1
    for i in range(n):
        if i * stride + window >= duration:
            return i + 1
    return n


def _intervals(duration: float, start: float, end: float, label: str) -> list[tuple[float, float, str]]:
    """'neutral, `label`, neutral' in time order, the empty ends left out (as `get_labels` builds them)."""
    out = []
    if start != 0:
        out.append((0.0, start, NEUTRAL))
    out.append((start, end, label))
    if end != duration:
        out.append((end, duration, NEUTRAL))
    return out


def interval_frames(
    duration: float,
    start: float | None,
    end: float | None,
    label: str,
    window: float = 0.02,
    stride: float = 0.02,
    n_frames: int | None = None,
) -> list[str]:
    """Frame labels of 'neutral, then `label` on [start, end], then neutral' (the recipe's rule).

    As `zed_prepare.get_labels`: a frame takes the label of the first interval (in time
    order) that covers at least half of it, and keeps the previous frame's label when none
    does (an interval shorter than half a frame inside it); the last frame is clipped to
    the utterance. The interval is clamped to [0, duration]; `start=None` (no interval), an
    empty interval or a neutral `label` give all neutral.
    """
    n = n_reference_frames(duration, window, stride) if n_frames is None else n_frames
    if start is None or end is None or label == NEUTRAL:
        return [NEUTRAL] * n
    start, end = max(0.0, float(start)), min(float(end), float(duration))
    if end <= start:
        return [NEUTRAL] * n
    intervals = _intervals(duration, start, end, label)
    out: list[str] = []
    for i in range(n):
        lo, hi = i * stride, i * stride + window
        if hi >= duration:
            lo, hi = max(duration - window, 0.0), duration
        current = out[-1] if out else NEUTRAL
        for i0, i1, lab in intervals:
            if max(0.0, min(hi, i1) - max(lo, i0)) >= 0.5 * (hi - lo):
                current = lab
                break
        out.append(current)
    return out


def pad_prediction(prediction: Sequence[str], n_reference: int) -> list[str]:
    """Append one copy of the last frame to a prediction shorter than the reference, by any
    amount (the ZED recipe's `train.py`); a prediction as long or longer is left as it is."""
    pred = list(prediction)
    if pred and len(pred) < n_reference:
        pred.append(pred[-1])
    return pred


def clamp_event(duration: float, start: float, end: float, utt_id: str = "utt") -> tuple[float, float]:
    """The reference event clamped to [0, duration]; an event left empty is an error."""
    s, e = max(0.0, float(start)), min(float(end), float(duration))
    if not e > s:
        raise ValueError(
            f"{utt_id}: emotion event [{start}, {end}] is empty inside the utterance "
            f"(0 - {duration} s); expected 0 <= start < end <= duration"
        )
    return s, e


def utterance_eder(
    prediction: Sequence[str],
    duration: float,
    emotion: str,
    start: float,
    end: float,
    window: float = 0.02,
    stride: float = 0.02,
    utt_id: str = "utt",
) -> float:
    """EDER of one utterance: frame labels (letters) against its one reference emotion event.

    `emotion` is the event's emotion word or letter; `duration` the utterance duration the
    reference is scored with (ZED: `ZED.json`'s). The event is clamped to [0, duration],
    the prediction padded as the recipe does, then `speechbrain.utils.EDER.EDER` scores it.
    """
    if len(prediction) == 0:
        raise ValueError(f"{utt_id}: empty prediction")
    if not float(duration) > 0:
        raise ValueError(f"{utt_id}: duration must be positive, got {duration}")
    start, end = clamp_event(duration, start, end, utt_id)
    pred = pad_prediction(prediction, n_reference_frames(duration, window, stride))
    ref = [{"emo": str(emotion), "start": start, "end": end}]
    value = EDER(pred, utt_id, float(duration), ref, window, stride)
    if math.isnan(value):
        raise ValueError(f"{utt_id}: EDER is not a number (duration {duration})")
    if value < -1e-9:  # cannot happen once the reference covers exactly [0, duration]
        raise ValueError(f"{utt_id}: EDER {value} is negative")
    return max(0.0, float(value))


def segment_eder(
    duration: float,
    emotion: str,
    start: float,
    end: float,
    answer: str,
    answer_start: float | None,
    answer_end: float | None,
    window: float = 0.02,
    stride: float = 0.02,
    utt_id: str = "utt",
) -> float:
    """EDER of a listener's answer: emotion `answer` on [answer_start, answer_end], neutral elsewhere."""
    frames = interval_frames(duration, answer_start, answer_end, letter(answer), window, stride)
    return utterance_eder(frames, duration, emotion, start, end, window, stride, utt_id)


def interval_eder(
    duration: float,
    emotion: str,
    start: float,
    end: float,
    answer: str,
    answer_start: float | None,
    answer_end: float | None,
) -> float:
    """The same definition on exact intervals (no frames): 1 - (correctly labelled time) / duration.

    Used to check the frame route: both agree when the boundaries fall on frame edges.
    """
    ref = _three(duration, letter(emotion), start, end)
    hyp = _three(duration, letter(answer), answer_start, answer_end)
    good = sum(max(0.0, min(r1, h1) - max(r0, h0)) for r0, r1, rl in ref for h0, h1, hl in hyp if rl == hl)
    return 1.0 - good / duration


def _three(duration: float, label: str, start: float | None, end: float | None) -> list[tuple[float, float, str]]:
    if start is None or end is None or end <= start or label == NEUTRAL:
        return [(0.0, duration, NEUTRAL)]
    return [(0.0, start, NEUTRAL), (start, end, label), (end, duration, NEUTRAL)]
