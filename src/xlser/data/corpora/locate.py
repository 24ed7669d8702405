"""Finding the file a table names when the name on disk is spelled differently but looks the same.

Corpus tables (a `csv` corpus's `path` column, ZED.json's `wav`) are typed, exported from
spreadsheets and copied between machines. Two differences are invisible when the name is
printed: whitespace around a cell (`" wav/a.wav"`) and the Unicode normal form of a name
(macOS writes file names decomposed, NFD: `é` as `e` + a combining accent, while the table
keeps the composed NFC form, or the other way round). A plain "not found" for a name that
looks identical to one on disk is what this module avoids: `locate` finds the file, folder by
folder, comparing names in NFC without surrounding whitespace, and says how the spelling
differed, so the scan can log it.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip()


def _entry(folder: Path, part: str) -> str | None:
    """The one entry of `folder` whose name is `part` in NFC without surrounding whitespace."""
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    hits = [n for n in names if _key(n) == _key(part)]
    return hits[0] if len(hits) == 1 else None


def locate(path: Path) -> tuple[Path, str]:
    """(the file, '' when `path` exists as written, else how its spelling differs from the
    file found: 'surrounding whitespace', 'Unicode normal form (NFC/NFD)'). A path found by
    neither comes back as written, with ''."""
    if path.exists():
        return path, ""
    parts = path.parts
    cur = Path(parts[0]) if path.is_absolute() else Path()
    how: set[str] = set()
    for part in parts[1:] if path.is_absolute() else parts:
        nxt = cur / part
        if nxt.exists():
            cur = nxt
            continue
        hit = _entry(cur if str(cur) else Path("."), part)
        if hit is None:
            return path, ""
        if hit.strip() != part.strip():
            how.add("Unicode normal form (NFC/NFD)")
        if part != part.strip() or hit != hit.strip():
            how.add("surrounding whitespace")
        cur = cur / hit
    return cur, " and ".join(sorted(how))


def cell_path(root: Path, cell: str) -> Path:
    """A table's path cell, relative to `root` unless absolute, whitespace around it dropped."""
    p = Path(cell.strip())
    return p if p.is_absolute() else root / p
