"""ZED (Zaion Emotion Dataset): `<root>/ZED.json`, utt id -> {wav, duration, emotion, transcription}.

`emotion` is a list with one event `{emo, start, end}` (`emo` spelled as a word, e.g.
`happy`; speechbrain's recipe uses its first letter). `wav` starts with the placeholder
`datafolder`, replaced by the root as speechbrain's `zed_prepare.py` does, or is relative
to the root. The manifest's emotion is the event's emotion; `seg_start/seg_end` its bounds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xlser.errors import InputError
from xlser.io import encoding_error
from xlser.data.corpora import Row, row
from xlser.data.corpora.labels import LabelMapper


def _resolve(root: Path, wav: str) -> Path:
    if wav.startswith("datafolder"):
        wav = wav[len("datafolder"):].lstrip("/\\")
    p = Path(wav)
    return p if p.is_absolute() else root / p


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
            raise InputError(path, f"entry '{utt}' lacks 'wav' or 'emotion' "
                                   "(expected {wav, duration, emotion: [{emo, start, end}]})") from None
        if len(events) != 1:
            raise InputError(path, f"entry '{utt}' has {len(events)} emotion events; exactly one is expected")
        ev = events[0]
        emotion = mapper(str(ev["emo"]), path)
        if emotion is None:
            continue
        start, end = float(ev["start"]), float(ev["end"])
        r = row(utt, str(item.get("speaker", utt.split("_")[0])), emotion, wav,
                text=str(item.get("transcription", "")), seg_start=start, seg_end=end)
        if not 0 <= start < end <= r["duration_s"] + 0.05:
            raise InputError(path, f"entry '{utt}': segment [{start}, {end}] is not inside the audio "
                                   f"(0 - {r['duration_s']:.3f} s)")
        yield r
