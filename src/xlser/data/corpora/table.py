"""The `csv` format: any corpus given as a table of `path, emotion, speaker` (+ `text`, `utt_id`,
`session`). Paths may be relative to the root. The route for TJD and any other corpus.

A path cell is read without surrounding whitespace, and a name that differs from the file on
disk only in Unicode normal form (NFC/NFD, as copies from macOS give) is found (`locate`) and
logged, never a "not found" for a name that looks identical."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from xlser.data.corpora import Row, row
from xlser.data.corpora.labels import LabelMapper
from xlser.data.corpora.locate import cell_path, locate
from xlser.errors import InputError
from xlser.io import encoding_error

log = logging.getLogger(__name__)

REQUIRED = ("path", "emotion", "speaker")


def scan(root: Path, cfg: dict[str, Any], mapper: LabelMapper) -> Iterator[Row]:
    path = root / cfg.get("table", "labels.csv")
    if not path.is_file():
        raise InputError(path, "table not found (config key `table`, relative to the corpus root)")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise encoding_error(path, exc) from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise InputError(path, f"not a readable CSV table ({exc})") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; expected {list(REQUIRED)} (+ text, utt_id)", line=1)
    respelled: list[str] = []
    for i, rec in enumerate(df.to_dict("records"), start=2):
        for c in REQUIRED:
            if not rec[c].strip():
                raise InputError(path, f"empty '{c}'", line=i)
        emotion = mapper(rec["emotion"], path, i)
        if emotion is None:
            continue
        named = cell_path(root, rec["path"])
        audio, how = locate(named)
        if how:
            respelled.append(f"line {i}: '{rec['path'].strip()}' is '{audio.name}' on disk ({how})")
        utt = rec.get("utt_id", "").strip() or unicodedata.normalize("NFC", named.stem)
        extra = {k: rec[k] for k in ("text", "session") if rec.get(k, "").strip()}
        try:
            yield row(utt, rec["speaker"].strip(), emotion, audio, **extra)
        except InputError as exc:
            raise InputError(path, f"{exc}", line=i) from None
    if respelled:
        log.warning(
            "%s: %d path(s) found under another spelling of the same name: %s",
            path,
            len(respelled),
            "; ".join(respelled[:10]) + (" ..." if len(respelled) > 10 else ""),
        )
