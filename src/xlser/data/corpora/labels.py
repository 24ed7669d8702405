"""Corpus labels -> the configured emotion set.

Each format has a default map of its own spelling (ESD `Angry`, PAVOQUE `Spike`, IEMOCAP
`ang`); a corpus's `label_map` in config overrides it. Labels and emotions are compared in
one normal form (`xlser.spelling.fold`) and come out as `emotions` spells them, so
`emotions: [Angry, Happy, Neutral, Sad]` finds ESD's `Angry` folder as `angry` would. A
`label_map` key the corpus never had is an error naming the key (`check_met`). A label mapped to null in
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
from xlser.spelling import Spelling, fold

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
    """Maps one corpus's labels to the configured emotions, in one spelling (`xlser.spelling`:
    case, Unicode form and surrounding spaces do not matter; the result is the name as
    configured), counts what it drops and remembers which labels it met."""

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
        spell = Spelling(self.emotions)
        base: dict[str, str | None] = {fold(k): v for k, v in DEFAULT_MAPS.get(fmt, {}).items()}
        base.update({fold(e): e for e in self.emotions} if fmt == "csv" else {})
        base.update({fold(k): v for k, v in (extra or {}).items()})
        user = {fold(k): v for k, v in (label_map or {}).items()}
        bad = sorted({str(v) for v in user.values() if v is not None and spell(v) is None})
        if bad:
            raise InputError(None, f"{key} maps to {bad}, which are not among the configured emotions {self.emotions}")
        base.update(user)
        self.map = {k: spell(v) for k, v in base.items() if v is not None and spell(v) is not None}
        self.ignored = {k for k, v in base.items() if v is None}
        self.strict = strict
        self.dropped: Counter[str] = Counter()
        self.label_map = dict(label_map or {})
        self.key = key
        self.met: dict[str, str] = {}  # normal form -> the label as first met

    def __call__(self, label: str, path: str | Path | None = None, line: int | None = None) -> str | None:
        """The configured emotion for `label`, or None (dropped and counted)."""
        f = fold(label)
        self.met.setdefault(f, str(label).strip())
        emo = self.map.get(f)
        if emo is None:
            if self.strict and f not in self.ignored:
                raise InputError(
                    path,
                    f"label '{label}' is not mapped to any of {self.emotions} "
                    f"(known: {sorted(self.map)}); add it to the corpus's label_map "
                    f"(null drops it) or set strict: false to drop all unmapped labels",
                    line=line,
                )
            self.dropped[str(label)] += 1
        return emo

    def unmet(self, fmt: str) -> list[str]:
        """`label_map` keys that rename a label the corpus never had: a typo, or a style,
        class or label the corpus lacks. Entries that drop (null), or that map a label to
        itself or as the format already does, rename nothing and are not counted."""
        default = {fold(k): fold(v) for k, v in DEFAULT_MAPS.get(fmt, {}).items()}
        return [
            str(k)
            for k, v in self.label_map.items()
            if v is not None and fold(k) not in self.met and fold(k) != fold(v) and default.get(fold(k)) != fold(v)
        ]

    def check_met(self, fmt: str, root: str | Path) -> None:
        """An error naming the `label_map` key of the first label the corpus never had."""
        missing = self.unmet(fmt)
        if missing:
            k = missing[0]
            found = ", ".join(sorted(self.met.values())[:30]) or "none"
            raise InputError(
                root,
                f"config {self.key}.{k}: the corpus has no label '{k}' (labels found: {found}); "
                "fix the spelling, or remove the entry",
            )

    def report(self, corpus: str) -> None:
        """Log the dropped labels and their counts."""
        if self.dropped:
            total = sum(self.dropped.values())
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.dropped.items()))
            log.info("%s: dropped %d utterance(s) with unmapped labels (%s)", corpus, total, detail)
