"""PAVOQUE: `<root>/Recordings/<Style>/<prompt>.flac` (one male speaker, 44.1 kHz, 24 bit).

Styles: Neutral, Poppy (happy), Obadiah (sad), Spike (angry), Poker (unused by default).
The same prompt exists in several styles, so the utt id is `<style>_<prompt>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import Row, row
from .labels import LabelMapper

AUDIO = (".flac", ".wav")


def scan(root: Path, cfg: dict[str, Any], mapper: LabelMapper) -> Iterator[Row]:
    rec = root / "Recordings"
    if not rec.is_dir():
        raise InputError(rec, "PAVOQUE layout expected: <root>/Recordings/<Style>/<prompt>.flac")
    speaker = str(cfg.get("speaker", "pavoque"))
    for style_dir in sorted(p for p in rec.iterdir() if p.is_dir()):
        files = sorted(p for p in style_dir.iterdir() if p.suffix.lower() in AUDIO)
        for f in files:
            emotion = mapper(style_dir.name, f)
            if emotion is None:
                continue
            yield row(f"{style_dir.name}_{f.stem}", speaker, emotion, f)
