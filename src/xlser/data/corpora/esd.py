"""ESD: `<root>/<speaker>/<Emotion>/<speaker>_<6 digits>.wav` and `<root>/<speaker>/<speaker>.txt`.

The transcript file holds `id<TAB>text<TAB>emotion` lines; the Mandarin speakers' files are
not all UTF-8 (some are UTF-16 or GB18030), so several encodings are tried. Speakers
0001-0010 are Mandarin, 0011-0020 English; `speakers:` in config selects them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xlser.data.corpora import Row, row
from xlser.data.corpora.labels import LabelMapper

_ID = re.compile(r"^\d{4}_\d{6}$")


def read_transcript(path: Path) -> dict[str, str]:
    """utt id -> text from an ESD `<speaker>.txt` (tolerant to encoding, BOM and spacing)."""
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "utf-16", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly anything
        text = raw.decode("utf-8", errors="replace")
    out = {}
    for line in text.splitlines():
        parts = [p.strip() for p in re.split(r"\t+", line.strip()) if p.strip()]
        if len(parts) >= 2 and _ID.match(parts[0]):
            out[parts[0]] = parts[1]
    return out


def scan(root: Path, cfg: dict[str, Any], mapper: LabelMapper) -> Iterator[Row]:
    wanted = {str(s).zfill(4) for s in cfg.get("speakers", [])}
    for spk_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        spk = spk_dir.name
        if wanted and spk not in wanted:
            continue
        txt = spk_dir / f"{spk}.txt"
        texts = read_transcript(txt) if txt.is_file() else {}
        for emo_dir in sorted(p for p in spk_dir.iterdir() if p.is_dir()):
            # the released zip also holds train/evaluation/test sub-folders of the same files
            wavs = sorted(emo_dir.glob("*.wav")) + sorted(emo_dir.glob("*/*.wav"))
            seen: set[str] = set()
            for wav in wavs:
                if wav.stem in seen or wav.name.startswith("._"):  # macOS resource forks
                    continue
                seen.add(wav.stem)
                emotion = mapper(emo_dir.name, wav)
                if emotion is None:
                    continue
                extra = {"text": texts[wav.stem]} if wav.stem in texts else {}
                yield row(wav.stem, spk, emotion, wav, **extra)
