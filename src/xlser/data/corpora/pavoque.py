"""PAVOQUE (one male speaker, 44.1 kHz, 24 bit), in either of its released layouts:

- `<root>/Recordings/<Style>/<prompt>.flac`: the per-style tarballs of the first release,
  style folders Neutral, Poppy (happy), Obadiah (sad), Spike (angry), Poker;
- `<root>/build/wav/<prompt>-<style>.wav` (or such wavs directly in `<root>`): the
  utterances that `./gradlew wav` (sox) cuts from the v0.2 release's `pavoque-<style>.flac`
  with `pavoque-<style>.yaml`, styles angry, happy, neutral, poker, sad.

The same prompt exists in several styles, so the utt id is `<prompt>-<style>` with the
English style name in both layouts (`spike0074-angry`, `m0001-happy`): the names of the
study's published fold lists, so they import as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xlser.data.corpora import Row, row
from xlser.data.corpora.labels import LabelMapper
from xlser.errors import InputError

AUDIO = (".flac", ".wav")
STYLE_NAMES = {"neutral": "neutral", "poker": "poker", "poppy": "happy", "obadiah": "sad", "spike": "angry"}
_CUT = re.compile(r"^(?P<prompt>.+)-(?P<style>[A-Za-z]+)$")


def _audio(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO and not p.name.startswith("._"))


def scan(root: Path, cfg: dict[str, Any], mapper: LabelMapper) -> Iterator[Row]:
    speaker = str(cfg.get("speaker", "pavoque"))
    rec = root / "Recordings"
    styles = sorted(p for p in rec.iterdir() if p.is_dir()) if rec.is_dir() else []
    if styles:
        for style_dir in styles:
            style = STYLE_NAMES.get(style_dir.name.lower(), style_dir.name.lower())
            for f in _audio(style_dir):
                emotion = mapper(style_dir.name, f)
                if emotion is not None:
                    yield row(f"{f.stem}-{style}", speaker, emotion, f)
        return
    cut = root / "build" / "wav"
    folder = cut if cut.is_dir() else root
    files = [f for f in _audio(folder) if not f.name.startswith("pavoque-")]  # not the long per-style FLACs
    if not files:
        hint = (
            (
                " (found the v0.2 release's pavoque-<style>.flac: run `./gradlew wav` in the corpus folder, "
                "which needs sox, to cut its utterances into build/wav/)"
            )
            if list(root.glob("pavoque-*.flac"))
            else ""
        )
        raise InputError(
            root,
            "PAVOQUE layout expected: <root>/Recordings/<Style>/<prompt>.flac or "
            f"<root>/build/wav/<prompt>-<style>.wav{hint}",
        )
    for f in files:
        m = _CUT.match(f.stem)
        if m is None:
            raise InputError(f, "PAVOQUE file name expected as <prompt>-<style>.wav (e.g. spike0074-angry.wav)")
        emotion = mapper(m["style"], f)
        if emotion is not None:
            yield row(f.stem, speaker, emotion, f)
