"""ESD: `<root>/<speaker>/<Emotion>/<speaker>_<6 digits>.wav` and `<root>/<speaker>/<speaker>.txt`.

The transcript file holds `id<TAB>text<TAB>emotion` lines; the Mandarin speakers' files are
not all UTF-8 (some are UTF-16 or GB18030), so several encodings are tried. Speakers
0001-0010 are Mandarin, 0011-0020 English; `speakers:` in config selects them.

ESD gives each utterance's emotion twice: its folder (`Angry`) and the last field of its
transcript line (`Angry`, or the Mandarin speakers' `生气`). The folder is the label (the
layout the study's fold lists follow); where the transcript says another of ESD's five
classes, the utterance is named with both labels: a warning listing them, or with the
corpus's `strict: true` an error at the transcript's line. A transcript word that is none of
the five is counted in the log, never taken for a contradiction.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlser.data.corpora import Row, row
from xlser.data.corpora.labels import LabelMapper
from xlser.errors import InputError
from xlser.spelling import fold

log = logging.getLogger(__name__)

_ID = re.compile(r"^\d{4}_\d{6}$")
#: ESD's five classes as its folders and transcripts write them (the Mandarin speakers' in Chinese)
CLASSES = {
    "angry": "angry",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprise": "surprise",
    "生气": "angry",
    "快乐": "happy",
    "中立": "neutral",
    "伤心": "sad",
    "惊喜": "surprise",
}
SHOWN = 10  # contradictions listed in a warning


@dataclass(frozen=True)
class Line:
    """One utterance line of a transcript: its text, its emotion word ('' none) and line number."""

    text: str
    label: str
    line: int


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "utf-16", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")  # pragma: no cover - gb18030 decodes nearly anything


def read_transcript_lines(path: Path) -> dict[str, Line]:
    """utt id -> `Line` from an ESD `<speaker>.txt` (tolerant to encoding, BOM and spacing)."""
    out = {}
    for i, line in enumerate(_decode(path).splitlines(), start=1):
        parts = [p.strip() for p in re.split(r"\t+", line.strip()) if p.strip()]
        if len(parts) >= 2 and _ID.match(parts[0]):
            out[parts[0]] = Line(parts[1], parts[2] if len(parts) >= 3 else "", i)
    return out


def read_transcript(path: Path) -> dict[str, str]:
    """utt id -> text from an ESD `<speaker>.txt`."""
    return {k: v.text for k, v in read_transcript_lines(path).items()}


@dataclass
class _Agreement:
    """Folder and transcript labels compared: contradictions (error with `strict`) and unknown words."""

    strict: bool
    contradictions: list[str]
    unknown: Counter[str]

    def check(self, wav: Path, folder: str, txt: Path, entry: Line | None) -> None:
        if entry is None or not entry.label:
            return
        said, where = CLASSES.get(fold(entry.label)), CLASSES.get(fold(folder))
        if said is None:
            self.unknown[entry.label] += 1
            return
        if where is None or said == where:
            return
        what = f"utterance {wav.stem} is in folder {folder} but its transcript line says '{entry.label}' ({said})"
        if self.strict:
            raise InputError(
                txt,
                f"{what}: ESD gives its emotion twice and they disagree; correct the transcript line or move "
                f"{wav.name} to the right folder (or set strict: false to keep the folder's label with a warning)",
                line=entry.line,
            )
        self.contradictions.append(f"{what} ({txt}, line {entry.line})")

    def report(self, root: Path) -> None:
        if self.contradictions:
            n = len(self.contradictions)
            shown = "; ".join(self.contradictions[:SHOWN]) + (f"; ... {n - SHOWN} more" if n > SHOWN else "")
            log.warning(
                "%s: %d utterance(s) whose folder and transcript labels disagree, kept with the folder's label "
                "(strict: true makes this an error): %s",
                root,
                n,
                shown,
            )
        if self.unknown:
            log.info("%s: transcript emotion words that are none of ESD's classes: %s", root, dict(self.unknown))


def scan(root: Path, cfg: dict[str, Any], mapper: LabelMapper) -> Iterator[Row]:
    wanted = {str(s).strip().zfill(4) for s in cfg.get("speakers") or []}
    agreement = _Agreement(bool(cfg.get("strict", False)), [], Counter())
    for spk_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        spk = spk_dir.name
        if wanted and spk not in wanted:
            continue
        txt = spk_dir / f"{spk}.txt"
        lines = read_transcript_lines(txt) if txt.is_file() else {}
        for emo_dir in sorted(p for p in spk_dir.iterdir() if p.is_dir()):
            # the released zip also holds train/evaluation/test sub-folders of the same files
            wavs = sorted(emo_dir.glob("*.wav")) + sorted(emo_dir.glob("*/*.wav"))
            seen: set[str] = set()
            for wav in wavs:
                if wav.stem in seen or wav.name.startswith("._"):  # macOS resource forks
                    continue
                seen.add(wav.stem)
                agreement.check(wav, emo_dir.name, txt, lines.get(wav.stem))
                emotion = mapper(emo_dir.name, wav)
                if emotion is None:
                    continue
                extra = {"text": lines[wav.stem].text} if wav.stem in lines else {}
                yield row(wav.stem, spk, emotion, wav, **extra)
    agreement.report(root)
