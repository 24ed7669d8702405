"""One spelling of every label and code.

Emotion names, corpus labels, listeners' answers and language codes reach the workflow from
many hands: the config, a corpus's folders and transcripts, fold lists, webMUSHRA answers,
listener tables. Written `Angry` in one place and `angry` in another, or `cn` beside `CN`,
they must still be one class or one language, else utterances are dropped, answers scored
wrong and settings planned differently, all without an error. So every comparison goes
through one normal form, `fold` (Unicode NFKC, surrounding whitespace stripped, inner runs
of whitespace made one space, case folded), and every value is carried on in the spelling
the config gives it (`Spelling`): tables show the configured names.

`spell_config` puts the config itself into that spelling once, before anything reads it
(`xlser.config.resolve`): `sed.emotions`, `label_map` targets and the listening kits'
`labels` keys become the names in `emotions`; every language code (corpora, models, listener
groups of kits and of the demo) one spelling per code. Two names that differ only in case or
Unicode form where one must stand for one thing (two emotions, two `label_map` keys) are an
error naming both keys.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

from xlser.errors import ConfigError

_SPACE = re.compile(r"\s+")


def fold(text: object) -> str:
    """The normal form labels and codes are compared in: `' Angry'`, `'ANGRY'` and `'angry'`
    are one; full-width `'Ａｎｇｒｙ'` (a Chinese input method's) too."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", str(text))).strip().casefold()


def clean(text: object) -> str:
    """A configured name as it is shown: NFC, without surrounding whitespace."""
    return unicodedata.normalize("NFC", str(text)).strip()


class Spelling:
    """The configured names of one kind (the emotions, the language codes), looked up by
    normal form: `Spelling(['Angry', 'Sad'])('angry') == 'Angry'`; None for no name."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = [str(n) for n in names]
        self._by_fold: dict[str, str] = {}
        for n in self.names:
            self._by_fold.setdefault(fold(n), n)

    def __call__(self, text: object) -> str | None:
        return self._by_fold.get(fold(text))

    def __contains__(self, text: object) -> bool:
        return fold(text) in self._by_fold

    def __repr__(self) -> str:
        return f"Spelling({self.names})"


def same(a: object, b: object) -> bool:
    """Whether two labels or codes are one in the normal form."""
    return fold(a) == fold(b)


# ---- the config in one spelling


def _unique(names: list[Any], key: str, what: str) -> list[str]:
    """The names cleaned; empty ones and two that are one in the normal form are errors naming the keys."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        c = clean(name)
        if not c:
            raise ConfigError(f"config {key}[{i}]: an empty {what} name; give it a name or remove it")
        f = fold(c)
        if f in seen:
            j = seen[f]
            raise ConfigError(
                f"config {key}[{i}]: {what} {c!r} is {key}[{j}] {out[j]!r} again (names are compared "
                f"without case, Unicode form and surrounding spaces); keep one of them"
            )
        seen[f] = i
        out.append(c)
    return out


def _emotion(spell: Spelling, value: Any, key: str, emotions: list[str], extra: str = "") -> str:
    name = spell(value)
    if name is None:
        raise ConfigError(f"config {key}: '{value}' is not one of emotions {emotions}{extra}")
    return name


def _spell_label_maps(cfg: MutableMapping[str, Any], spell: Spelling, emotions: list[str]) -> None:
    """`corpora.<name>.label_map`: keys one per normal form, targets the configured names."""
    for name, corpus in (cfg.get("corpora") or {}).items():
        lm = corpus.get("label_map") if isinstance(corpus, MutableMapping) else None
        if not lm:
            continue
        seen: dict[str, str] = {}
        out: dict[str, str | None] = {}
        for label, target in lm.items():
            key = f"corpora.{name}.label_map.{label}"
            f = fold(label)
            if f in seen:
                raise ConfigError(
                    f"config {key}: the label '{label}' is corpora.{name}.label_map.{seen[f]} again (labels are "
                    f"compared without case, Unicode form and surrounding spaces); keep one entry"
                )
            seen[f] = str(label)
            out[label] = None if target is None else _emotion(spell, target, key, emotions, " (null drops the label)")
        corpus["label_map"] = out


def _spell_tests(cfg: MutableMapping[str, Any], spell: Spelling, emotions: list[str]) -> None:
    """`human.tests[i].labels`: keyed by the configured emotion names."""
    for i, test in enumerate((cfg.get("human") or {}).get("tests") or []):
        labels = test.get("labels") if isinstance(test, MutableMapping) else None
        if not labels:
            continue
        out: dict[str, Any] = {}
        for emo, text in labels.items():
            key = f"human.tests[{i}].labels.{emo}"
            name = _emotion(spell, emo, key, emotions, " (the keys are emotions, the values the buttons' labels)")
            if name in out:
                raise ConfigError(f"config {key}: emotion '{name}' is labelled twice; keep one entry")
            out[name] = text
        test["labels"] = out


def _lang_slots(cfg: MutableMapping[str, Any]) -> Iterator[tuple[int, str, MutableMapping[str, Any] | list, Any]]:
    """(rank, key path, container, index) of every language code in the config; rank 0 are the
    corpora's (their spelling is shown), 1 the models', 2 listener groups."""
    for name, c in (cfg.get("corpora") or {}).items():
        if isinstance(c, MutableMapping) and "lang" in c:
            yield 0, f"corpora.{name}.lang", c, "lang"
    for name, m in (cfg.get("models") or {}).items():
        if isinstance(m, MutableMapping) and "lang" in m:
            yield 1, f"models.{name}.lang", m, "lang"
    for i, test in enumerate((cfg.get("human") or {}).get("tests") or []):
        for j, _ in enumerate(test.get("groups") or [] if isinstance(test, MutableMapping) else []):
            yield 2, f"human.tests[{i}].groups[{j}]", test["groups"], j
    listeners = (cfg.get("demo") or {}).get("listeners")
    if isinstance(listeners, MutableMapping):
        for j, _ in enumerate(listeners.get("groups") or []):
            yield 2, f"demo.listeners.groups[{j}]", listeners["groups"], j


def _spell_langs(cfg: MutableMapping[str, Any]) -> None:
    """One spelling per language code: the corpora's (the first in sorted order where they differ
    only in case), else the models', else the listener groups'. The choice depends on no key order."""
    slots = list(_lang_slots(cfg))
    chosen: dict[str, tuple[int, str]] = {}
    for rank, key, box, i in slots:
        value = clean(box[i])
        if not value:
            raise ConfigError(f"config {key}: an empty language code; give the code (CN, DE, EN, ...)")
        f = fold(value)
        chosen[f] = min(chosen.get(f, (rank, value)), (rank, value))
    for _, _, box, i in slots:
        box[i] = chosen[fold(box[i])][1]


def spell_config(cfg: MutableMapping[str, Any]) -> None:
    """Put the (schema-valid) config into one spelling, in place; raises ConfigError naming the
    key of a name that is another's twin or of a reference to no configured emotion."""
    emotions = _unique(list(cfg.get("emotions") or []), "emotions", "emotion")
    cfg["emotions"] = emotions
    spell = Spelling(emotions)
    sed = cfg.get("sed")
    if isinstance(sed, MutableMapping) and sed.get("emotions") is not None:
        named = [_emotion(spell, e, f"sed.emotions[{i}]", emotions) for i, e in enumerate(sed["emotions"])]
        sed["emotions"] = _unique(named, "sed.emotions", "emotion")
    _spell_label_maps(cfg, spell, emotions)
    _spell_tests(cfg, spell, emotions)
    _spell_langs(cfg)
