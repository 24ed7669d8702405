"""Corpus labels -> the configured emotion set.

Each format has a default map of its own spelling (ESD `Angry`, PAVOQUE `Spike`, IEMOCAP
`ang`); a corpus's `label_map` in config overrides it. A label mapped to null in
`label_map` (`{Surprise: null}`) is dropped on purpose; any other label with no mapping is
dropped and counted (logged per label), or, with `strict: true`, is an error naming file
and line. So `strict` works on corpora whose unused classes are known (ESD's Surprise,
IEMOCAP's fru, xxx, ...): drop those with null, and a typo or an unexpected label still stops.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from xlser.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_MAPS: dict[str, dict[str, str]] = {
    "esd": {"angry": "angry", "happy": "happy", "neutral": "neutral", "sad": "sad"},
    "pavoque": {
        "spike": "angry",
        "poppy": "happy",
        "neutral": "neutral",
        "obadiah": "sad",
        "angry": "angry",
        "happy": "happy",
        "sad": "sad",
    },  # folder names; v0.2 style names
    "iemocap": {"ang": "angry", "hap": "happy", "neu": "neutral", "sad": "sad"},
    "zed": {
        "angry": "angry",
        "happy": "happy",
        "sad": "sad",
        "neutral": "neutral",
        "a": "angry",
        "h": "happy",
        "s": "sad",
        "n": "neutral",
    },
    "csv": {},
}


class LabelMapper:
    """Maps one corpus's labels (case-insensitive) and counts what it drops."""

    def __init__(
        self,
        fmt: str,
        emotions: Iterable[str],
        label_map: Mapping[str, str | None] | None = None,
        strict: bool = False,
        extra: Mapping[str, str] | None = None,
        key: str = "label_map",
    ) -> None:
        self.emotions = list(emotions)
        base = dict(DEFAULT_MAPS.get(fmt, {}))
        base.update({e: e for e in self.emotions} if fmt == "csv" else {})
        base.update({k.lower(): v for k, v in (extra or {}).items()})
        base.update({str(k).lower(): v for k, v in (label_map or {}).items()})
        bad = sorted({v for v in base.values() if v not in self.emotions and v is not None})
        if label_map and any(v is not None and v not in self.emotions for v in label_map.values()):
            raise InputError(None, f"{key} maps to {bad}, which are not among the configured emotions {self.emotions}")
        self.map = {k: v for k, v in base.items() if v in self.emotions}
        self.ignored = {k for k, v in base.items() if v is None}
        self.strict = strict
        self.dropped: Counter[str] = Counter()

    def __call__(self, label: str, path: str | Path | None = None, line: int | None = None) -> str | None:
        """The configured emotion for `label`, or None (dropped and counted)."""
        emo = self.map.get(str(label).strip().lower())
        if emo is None:
            if self.strict and str(label).strip().lower() not in self.ignored:
                raise InputError(
                    path,
                    f"label '{label}' is not mapped to any of {self.emotions} "
                    f"(known: {sorted(self.map)}); add it to the corpus's label_map "
                    f"(null drops it) or set strict: false to drop all unmapped labels",
                    line=line,
                )
            self.dropped[str(label)] += 1
        return emo

    def report(self, corpus: str) -> None:
        """Log the dropped labels and their counts."""
        if self.dropped:
            total = sum(self.dropped.values())
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.dropped.items()))
            log.info("%s: dropped %d utterance(s) with unmapped labels (%s)", corpus, total, detail)
