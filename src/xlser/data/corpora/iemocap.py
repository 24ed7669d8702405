"""IEMOCAP: wavs in `<root>/Session<n>/sentences/wav/<dialog>/<utt>.wav`, labels in
`<root>/Session<n>/dialog/EmoEvaluation/<dialog>.txt`.

Label lines look like `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`;
the evaluators' lines after them (`C-E1:`, `A-E2:` ...) are ignored. The speaker is the
session plus the gender letter of the utterance suffix (`Ses01F_impro01_M003` -> `Ses01M`).

Improvised dialogs have `impro` in their name, the others are scripted; the manifest's
`dialog` column says which. The study's model folds use both, its listening stimuli only
improvised ones: `dialogs` and `listening_dialogs` choose the two pools (`select_dialogs`),
and the scan keeps the dialog types either pool uses. macOS `._*` files are skipped.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xlser.data.corpora import Row, row
from xlser.data.corpora.labels import LabelMapper
from xlser.data.splits import dialog_pools
from xlser.errors import InputError

log = logging.getLogger(__name__)

_NUM = r"[-+]?\d+(?:\.\d*)?"
_LINE = re.compile(
    rf"^\[(?P<start>{_NUM})\s*-\s*(?P<end>{_NUM})\]\s+(?P<utt>\S+)\s+(?P<label>\S+)\s+"
    rf"\[\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*\]$"
)
LINE_FORMAT = "`[start - end]<TAB>utterance<TAB>label<TAB>[V, A, D]`"


def parse_emo_evaluation(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, utterance id, label) for every utterance line of an EmoEvaluation file.

    An utterance line is one that starts with `[`; one that does not parse whole (cut off in
    transfer, edited by hand) is an error naming file and line, never a silently lost utterance."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            text = line.strip()
            if not text.startswith("["):
                continue
            m = _LINE.match(text)
            if m is None:
                raise InputError(
                    path,
                    f"label line cut off or malformed (expected {LINE_FORMAT}, found "
                    f"{text[:80]!r}); restore the file from the corpus release",
                    line=i,
                )
            yield i, m["utt"], m["label"]


def _unlabelled(sess_dir: Path, keep: set[str], labelled: set[str]) -> Counter[str]:
    """Per dialog, the wavs of the kept dialog types that no label line names."""
    out: Counter[str] = Counter()
    wav_root = sess_dir / "sentences" / "wav"
    for dialog_dir in sorted(p for p in wav_root.glob("*") if p.is_dir()) if wav_root.is_dir() else []:
        if ("improvised" if "impro" in dialog_dir.name else "scripted") not in keep:
            continue
        n = sum(1 for w in dialog_dir.glob("*.wav") if not w.name.startswith("._") and w.stem not in labelled)
        if n:
            out[dialog_dir.name] = n
    return out


def check_pools(cfg: dict[str, Any], kinds: Counter[str], root: Path, prefix: str) -> None:
    """A dialog pool (`dialogs`, `listening_dialogs`, `improvised_only`) of a type the corpus has
    no labelled dialog of is an error naming the key, never an empty pool found later."""
    keys = ("improvised_only", "improvised_only") if "improvised_only" in cfg else ("dialogs", "listening_dialogs")
    for pool, key in zip(dialog_pools(cfg), keys, strict=True):
        if pool != "all" and not kinds[pool]:
            found = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
            raise InputError(
                root,
                f"config {prefix}.{key}: selects the {pool} dialogs, but the corpus has no {pool} dialog with "
                f"labels in Session*/dialog/EmoEvaluation (dialogs found: {found}); choose a pool it has "
                f"(all, improvised, scripted) or check the root",
            )


def scan(root: Path, cfg: dict[str, Any], mapper: LabelMapper) -> Iterator[Row]:
    keep = set(dialog_pools(cfg))
    keep = {"improvised", "scripted"} if "all" in keep else keep
    sessions = sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"Session\d+", p.name))
    if not sessions:
        raise InputError(root, "IEMOCAP layout expected: <root>/Session<n>/dialog/EmoEvaluation/*.txt")
    unlabelled: Counter[str] = Counter()
    kinds: Counter[str] = Counter()  # labelled dialogs of each type in the corpus
    for sess_dir in sessions:
        labelled: set[str] = set()
        n = int(sess_dir.name[len("Session") :])
        session = f"Ses{n:02d}"
        for ev in sorted((sess_dir / "dialog" / "EmoEvaluation").glob("*.txt")):
            dialog = ev.stem
            kind = "improvised" if "impro" in dialog else "scripted"
            if ev.name.startswith("._"):
                continue
            kinds[kind] += 1
            if kind not in keep:
                continue
            for line_no, utt, label in parse_emo_evaluation(ev):
                labelled.add(utt)
                emotion = mapper(label, ev, line_no)
                if emotion is None:
                    continue
                wav = sess_dir / "sentences" / "wav" / dialog / f"{utt}.wav"
                if not wav.is_file():
                    raise InputError(ev, f"utterance '{utt}' has no audio file (expected {wav})", line=line_no)
                gender = utt.rsplit("_", 1)[-1][:1]
                yield row(utt, f"{session}{gender}", emotion, wav, session=session, dialog=kind)
        unlabelled += _unlabelled(sess_dir, keep, labelled)
    check_pools(cfg, kinds, root, mapper.key.removesuffix("label_map").rstrip(".") or "corpora.<name>")
    if unlabelled:
        detail = ", ".join(f"{d}: {k}" for d, k in sorted(unlabelled.items()))
        log.warning(
            "%s: %d utterance(s) with audio but no label line in Session*/dialog/EmoEvaluation, left out (%s)",
            root,
            sum(unlabelled.values()),
            detail,
        )
