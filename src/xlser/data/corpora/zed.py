"""ZED (Zaion Emotion Dataset): `<root>/ZED.json`, utt id -> {wav, duration, emotion, transcription}.

`emotion` is a list with one event `{emo, start, end}` (`emo` spelled as a word, e.g.
`happy`; speechbrain's recipe uses its first letter). `wav` starts with the placeholder
`datafolder`, replaced by the root as speechbrain's `zed_prepare.py` does, or is relative
to the root. The manifest's emotion is the event's emotion; `seg_start/seg_end` its bounds.

`seg_duration` is the duration the diarization reference is scored with: `ZED.json`'s
`duration`, as the recipe scores EDER (the audio's when an entry has none). It must agree
with the audio to within `END_TOLERANCE_S`; an event ending up to that much after it (ZED's
annotations overrun their audio by a few ms) is clamped to it, so that the reference covers
exactly [0, duration]; further is an error naming the entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xlser.data.corpora import Row, row
from xlser.data.corpora.labels import LabelMapper
from xlser.data.corpora.locate import cell_path, locate
from xlser.errors import InputError
from xlser.io import encoding_error

END_TOLERANCE_S = 0.05  # how far an event or ZED.json's duration may run past the audio


def _resolve(root: Path, wav: str) -> Path:
    """The audio of a `wav` field (whitespace around it dropped; `datafolder` is the root),
    found also where the name on disk is in another Unicode normal form (`locate`)."""
    wav = wav.strip()
    if wav.startswith("datafolder"):
        wav = wav[len("datafolder") :].lstrip("/\\")
    return locate(cell_path(root, wav))[0]


def _event(path: Path, utt: str, ev: Any) -> tuple[str, float, float]:
    """(emo, start, end) of one emotion event; a missing field or a bound that is not a finite
    number of seconds (`"1.0s"`, null) is an error naming ZED.json, the entry and the field."""
    if not isinstance(ev, dict):
        raise InputError(path, f"entry '{utt}': emotion event {ev!r} is not an object (expected {{emo, start, end}})")
    for key in ("emo", "start", "end"):
        if key not in ev:
            raise InputError(path, f"entry '{utt}': emotion event lacks '{key}' (expected {{emo, start, end}})")
    bounds = []
    for key in ("start", "end"):
        try:
            value = float(ev[key]) if not isinstance(ev[key], bool) else None
        except (TypeError, ValueError):
            value = None
        if value is None or not math.isfinite(value):
            raise InputError(path, f"entry '{utt}': '{key}' = {ev[key]!r} is not a number of seconds")
        bounds.append(value)
    return str(ev["emo"]), bounds[0], bounds[1]


def scan(root: Path, cfg: dict[str, Any], mapper: LabelMapper) -> Iterator[Row]:
    path = root / "ZED.json"
    if not path.is_file():
        raise InputError(path, "ZED layout expected: <root>/ZED.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise encoding_error(path, exc) from None
    for utt, item in sorted(data.items()):
        try:
            events = item["emotion"]
            wav = _resolve(root, item["wav"])
        except (KeyError, TypeError):
            raise InputError(
                path,
                f"entry '{utt}' lacks 'wav' or 'emotion' (expected {{wav, duration, emotion: [{{emo, start, end}}]}})",
            ) from None
        if len(events) != 1:
            raise InputError(path, f"entry '{utt}' has {len(events)} emotion events; exactly one is expected")
        emo, start, end = _event(path, utt, events[0])
        emotion = mapper(emo, path)
        if emotion is None:
            continue
        r = row(
            utt,
            str(item.get("speaker", utt.split("_")[0])),
            emotion,
            wav,
            text=str(item.get("transcription", "")),
            seg_start=start,
            seg_end=end,
        )
        audio = float(r["duration_s"])
        try:
            duration = float(item.get("duration", audio))
        except (TypeError, ValueError):
            raise InputError(path, f"entry '{utt}': duration {item.get('duration')!r} is not a number") from None
        if not 0 < duration <= audio + END_TOLERANCE_S or duration < audio - END_TOLERANCE_S:
            raise InputError(
                path,
                f"entry '{utt}': duration {duration} s does not match its audio "
                f"({audio:.3f} s, {wav}) to within {END_TOLERANCE_S} s",
            )
        if not 0 <= start < end <= duration + END_TOLERANCE_S or start >= duration:
            raise InputError(
                path,
                f"entry '{utt}': segment [{start}, {end}] is not inside the utterance "
                f"(0 - {duration:.3f} s, ZED.json's duration; up to {END_TOLERANCE_S} s "
                "past the end is clamped)",
            )
        r["seg_end"] = min(end, duration)
        r["seg_duration"] = duration
        yield r
