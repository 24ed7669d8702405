"""Listening-test answers (webMUSHRA `lss.csv`, plain long CSVs) -> `results/human/responses.csv`.

webMUSHRA (service/write.php) writes one `results/<testId>/lss.csv` per test for
`likert_single_stimulus` pages: `session_test_id`, one column per finish-page questionnaire
item (named after the item's `name`, e.g. `email`, `age`, `gender` in its default config),
`trial_id`, `stimuli_rating` (the chosen response value as is, e.g. `angry`; webMUSHRA
before 1.4 padded it with spaces, `" angry "`, which is read alike), `stimuli` (the stimulus
key of the page config) and `rating_time` (ms). The file is appended to, one header only.
Unanswered trials hold `NA` (or nothing): they are not answers, but they count as trials
presented to the listener.

Answers, truth and groups are compared in one spelling (`xlser.spelling`): an answer
`angry` (or webMUSHRA's lower-cased, padded value) to `emotions: [Angry, ...]` is `Angry`, a
listener group `cn` of corpora in language `CN` is `CN`; the responses carry the configured names.

Every answer is checked; a bad one raises `InputError` naming file and 1-based line, or,
with `lenient=True`, is dropped, counted per reason and logged. Every listener of the
metadata must have answered at least `min_answered` of the trials presented to their group
(the utterances any listener of the group was given, answered or not): a listener who sent
2 of 24 answers is not averaged in as a full listener.

webMUSHRA posts its results without URL-encoding them, so a `+` in a listener id arrives as a
space: an id that matches no listener is named together with the listener it most likely is.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xlser.contracts import validate_table
from xlser.data.manifest import read_manifest
from xlser.errors import InputError
from xlser.io import read_csv
from xlser.spelling import Spelling, same

log = logging.getLogger(__name__)

LSS_COLUMNS = ["session_test_id", "trial_id", "stimuli_rating", "stimuli", "rating_time"]
LONG_COLUMNS = ["listener", "group", "corpus", "utt_id", "pred", "seg_start", "seg_end"]
RESPONSE_COLUMNS = ["listener", "group", "corpus", "utt_id", "true", "pred", "seg_start", "seg_end", "simulated"]
UNANSWERED = {"", "na", "nan", "null", "none"}
SAFE_ID = re.compile(r"^[A-Za-z0-9@._-]+$")  # ids webMUSHRA's unencoded upload keeps intact


@dataclass
class _Checker:
    """Raises on bad input, or (lenient) counts the drop and goes on."""

    lenient: bool
    drops: Counter = field(default_factory=Counter)

    def bad(self, path: Path, line: int, message: str, reason: str) -> None:
        if not self.lenient:
            raise InputError(path, message, line=line)
        self.drops[reason] += 1
        log.warning("dropped %s line %d: %s", path, line, message)


def read_stimuli(path: str | Path) -> dict[str, tuple[str, str]]:
    """Stimulus key (as in the test config) -> (corpus, utt_id)."""
    path = Path(path)
    df = read_csv(path, ["stimulus", "corpus", "utt_id"], dtype=str, keep_default_na=False)
    out: dict[str, tuple[str, str]] = {}
    for i, row in enumerate(df.itertuples(index=False), start=2):
        key = str(row.stimulus).strip()
        if not key or not str(row.corpus).strip() or not str(row.utt_id).strip():
            raise InputError(path, "empty stimulus, corpus or utt_id", line=i)
        if key in out:
            raise InputError(path, f"stimulus {key!r} listed twice", line=i)
        out[key] = (str(row.corpus).strip(), str(row.utt_id).strip())
    return out


def read_stimulus_tables(paths: str | Path | Sequence[str | Path]) -> dict[str, tuple[str, str]]:
    """Several stimulus tables (e.g. `human.stimuli` and every listening kit's) as one; a key
    listed in two tables must name the same utterance in both."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ValueError("no stimulus table: set human.stimuli or configure human.tests")
    out: dict[str, tuple[str, str]] = {}
    where: dict[str, Path] = {}
    for p in map(Path, paths):
        for key, utt in read_stimuli(p).items():
            if key in out and out[key] != utt:
                raise InputError(
                    p, f"stimulus {key!r} is {utt[0]}/{utt[1]} here but {out[key][0]}/{out[key][1]} in {where[key]}"
                )
            out[key], where[key] = utt, p
    return out


def read_listeners(path: str | Path, langs: Sequence[str] = ()) -> pd.DataFrame:
    """Listener metadata (`listener, group, gender, background`), indexed by listener id. A group
    that is one of the corpora's languages `langs` in another spelling (`cn` for `CN`) is
    written as the corpora spell it, so that groups and languages compare equal."""
    path = Path(path)
    df = read_csv(path, ["listener", "group"], dtype=str, keep_default_na=False)
    for col in ("listener", "group"):
        df[col] = df[col].str.strip()
        empty = df.index[df[col] == ""]
        if len(empty):
            raise InputError(path, f"empty value in column '{col}'", line=int(empty[0]) + 2)
    spell = Spelling(langs)
    df["group"] = [spell(g) or g for g in df["group"]]
    dup = df.index[df["listener"].duplicated()]
    if len(dup):
        raise InputError(path, f"listener {df['listener'][dup[0]]!r} listed twice", line=int(dup[0]) + 2)
    unsafe = [lis for lis in df["listener"] if not SAFE_ID.match(lis)]
    if unsafe:
        log.warning(
            "%s: listener ids %s hold characters webMUSHRA does not send intact (a '+' arrives as a "
            "space, '&' breaks the upload); use letters, digits and @._- only",
            path,
            unsafe[:5],
        )
    return df.set_index("listener")


def likely_listener(listener: str, known: Sequence[str]) -> str | None:
    """The known listener id an unknown one most likely is: the same id after webMUSHRA's
    unencoded upload (`+` -> space), else the closest spelling (difflib ratio >= 0.8)."""
    sent = [k for k in known if k.replace("+", " ") == listener]
    if sent:
        return sent[0]
    close = difflib.get_close_matches(listener, list(known), n=1, cutoff=0.8)
    return close[0] if close else None


def check_complete(
    answered: Mapping[str, set],
    presented: Mapping[str, set],
    meta: pd.DataFrame,
    where: Mapping[str, Path],
    listeners: str | Path,
    min_answered: float,
) -> dict[str, tuple[int, int]]:
    """Per listener (answered, presented to the group); logs every incomplete listener and
    raises for one below `min_answered`, naming the listener and the file of their answers."""
    out = {}
    for lis, grp in meta["group"].items():
        total = len(presented.get(grp, ()))
        got = len(answered.get(lis, ()))
        out[lis] = (got, total)
        share = got / total if total else 0.0
        if got < total or not total:
            log.warning("listener %s (group %s): %d of %d trials answered (%.0f %%)", lis, grp, got, total, 100 * share)
        if share < min_answered - 1e-12:
            need = math.ceil(min_answered * total - 1e-9)
            what = (
                f"answered {got} of the {total} trials presented to group {grp}"
                if total
                else f"has no answers, nor has any listener of group {grp}"
            )
            raise InputError(
                where.get(lis, listeners),
                f"listener {lis!r} {what}; human.min_answered = {min_answered:g} needs "
                f"{need if total else 'some'}: add the missing answers, remove the listener from "
                f"{listeners}, or lower human.min_answered",
            )
    return out


def load_truth(
    manifests: Mapping[str, str | Path], langs: set[str] | None = None
) -> dict[tuple[str, str], tuple[str, float]]:
    """(corpus, utt_id) -> (emotion, duration_s); the corpus is the manifest's folder name.
    `langs`, when given, receives the corpora's language codes as configured."""
    truth: dict[tuple[str, str], tuple[str, float]] = {}
    for corpus, path in manifests.items():
        df = read_manifest(path)
        if langs is not None:
            langs.update(str(v) for v in df["lang"].unique())
        for utt, emo, dur in zip(df["utt_id"], df["emotion"], df["duration_s"], strict=True):
            truth[(corpus, str(utt))] = (str(emo), float(dur))
    return truth


def manifests_by_corpus(paths: Sequence[str | Path]) -> dict[str, Path]:
    """`results/corpora/{corpus}/manifest.csv` -> {corpus: path}."""
    return {Path(p).parent.name: Path(p) for p in paths}


def _label(raw: object) -> str:
    return str(raw).strip().lower() if raw is not None and not (isinstance(raw, float) and np.isnan(raw)) else ""


def read_lss(path: str | Path, listener_column: str) -> pd.DataFrame:
    """One webMUSHRA lss.csv as rows `listener, stimulus, pred, line` (unanswered kept as pred '')."""
    path = Path(path)
    df = read_csv(path, LSS_COLUMNS + [listener_column], dtype=str, keep_default_na=False)
    return pd.DataFrame(
        {
            "listener": df[listener_column].str.strip(),
            "stimulus": df["stimuli"].str.strip(),
            "pred": [_label(v) for v in df["stimuli_rating"]],
            "line": np.arange(len(df)) + 2,
        }
    )


@dataclass
class _Answers:
    """The answers read so far, checked one by one against the listener metadata, the
    manifests' utterances and the label set, and what each group was presented."""

    meta: pd.DataFrame  # listener metadata, indexed by listener id
    truth: Mapping[tuple[str, str], tuple[str, float]]  # (corpus, utt_id) -> (emotion, duration_s)
    labels: Spelling  # the configured emotions: an answer in any case or Unicode form is one of them
    listeners: str | Path  # the metadata's file, for messages
    simulated: bool
    chk: _Checker
    rows: list[dict] = field(default_factory=list)
    seen: dict[tuple[str, str, str], tuple[Path, int]] = field(default_factory=dict)
    presented: dict[str, set] = field(default_factory=dict)  # group -> (corpus, utt) given to any of its listeners
    answered: dict[str, set] = field(default_factory=dict)
    where: dict[str, Path] = field(default_factory=dict)  # listener -> the first file of their answers
    unanswered: int = 0

    def known(self, path: Path, line: int, listener: str) -> bool:
        """Whether the listener is in the metadata; an unknown one is bad input, named with the
        listener it most likely is."""
        if listener in self.meta.index:
            self.where.setdefault(listener, path)
            return True
        likely = likely_listener(listener, list(self.meta.index))
        hint = (
            f"; did you mean {likely!r}? webMUSHRA sends ids unencoded (a '+' arrives as a space): give "
            "listeners ids of letters, digits and @._- only"
            if likely
            else ""
        )
        self.chk.bad(
            path,
            line,
            f"listener {listener!r} is not in the listener metadata {self.listeners}{hint}",
            "unknown listener",
        )
        return False

    def problem(
        self, listener: str, corpus: str, utt: str, pred: str, start: float | None, end: float | None, group: str | None
    ) -> tuple[str, str] | None:
        """What is wrong with one answer of a known listener, as (message, reason), the checks
        in a fixed order; None when nothing is."""
        meta_group = str(self.meta.at[listener, "group"])
        if group is not None and not same(group, meta_group):
            return (
                f"group {group!r} of listener {listener!r} differs from the metadata ({meta_group!r})",
                "group mismatch",
            )
        if (corpus, utt) not in self.truth:
            return f"utterance {corpus}/{utt} is not in the manifest of corpus {corpus!r}", "unknown utterance"
        if pred not in self.labels:
            return f"answer {pred!r} is not one of {self.labels.names}", "answer outside label set"
        dur = self.truth[(corpus, utt)][1]
        if (start is None) != (end is None):
            return "seg_start and seg_end must both be given or both be empty", "bad segment"
        if start is not None and end is not None:
            if start < 0 or start > end:
                return f"segment [{start}, {end}] must satisfy 0 <= seg_start <= seg_end", "bad segment"
            if end > dur + 1e-3:
                return f"segment end {end} s is past the utterance's duration {dur:.3f} s", "bad segment"
        key = (listener, corpus, utt)
        if key in self.seen:
            first = self.seen[key]
            return (
                f"listener {listener!r} answered {corpus}/{utt} twice (first at {first[0]}, line {first[1]})",
                "duplicate answer",
            )
        return None

    def add(
        self,
        path: Path,
        line: int,
        listener: str,
        corpus: str,
        utt: str,
        pred: str,
        start: float | None,
        end: float | None,
        group: str | None = None,
    ) -> None:
        """One answer: kept as a response row, or bad input (see `problem`)."""
        if not self.known(path, line, listener):
            return None
        found = self.problem(listener, corpus, utt, pred, start, end, group)
        if found is not None:
            return self.chk.bad(path, line, *found)
        meta_group = str(self.meta.at[listener, "group"])
        true = self.truth[(corpus, utt)][0]
        self.seen[(listener, corpus, utt)] = (path, line)
        self.presented.setdefault(meta_group, set()).add((corpus, utt))
        self.answered.setdefault(listener, set()).add((corpus, utt))
        self.rows.append(
            {
                "listener": listener,
                "group": meta_group,
                "corpus": corpus,
                "utt_id": utt,
                "true": true,
                "pred": self.labels(pred),
                "seg_start": start,
                "seg_end": end,
                "simulated": self.simulated,
            }
        )

    def skip(self, path: Path, line: int, listener: str, corpus: str, utt: str) -> None:
        """An unanswered trial: not an answer, but presented to the listener's group."""
        self.unanswered += 1
        if self.known(path, line, listener):
            self.presented.setdefault(str(self.meta.at[listener, "group"]), set()).add((corpus, utt))

    def from_lss(self, path: Path, listener_column: str, stim: Mapping[str, tuple[str, str]], stimuli: object) -> None:
        """Every trial of one webMUSHRA lss.csv, its stimulus key looked up in `stim` (read from
        the tables `stimuli`, named in messages)."""
        for r in read_lss(path, listener_column).itertuples(index=False):
            if r.stimulus not in stim:
                self.chk.bad(
                    path, r.line, f"stimulus {r.stimulus!r} is not in the stimulus table {stimuli}", "unknown stimulus"
                )
                continue
            corpus, utt = stim[r.stimulus]
            if r.pred in UNANSWERED:
                self.skip(path, r.line, r.listener, corpus, utt)
                continue
            self.add(path, r.line, r.listener, corpus, utt, r.pred, None, None)

    def from_long(self, path: Path) -> None:
        """Every row of one long CSV (`LONG_COLUMNS`; a segment, or none for an utterance-level answer)."""
        df = read_csv(path, LONG_COLUMNS, dtype=str, keep_default_na=False)
        for i, r in enumerate(df.itertuples(index=False), start=2):
            try:
                start = float(r.seg_start) if str(r.seg_start).strip() else None
                end = float(r.seg_end) if str(r.seg_end).strip() else None
            except ValueError:
                start = end = math.nan
            if any(v is not None and not math.isfinite(v) for v in (start, end)):
                self.chk.bad(
                    path,
                    i,
                    f"seg_start/seg_end must be finite numbers in seconds (or both empty for an "
                    f"utterance-level answer), got {r.seg_start!r}/{r.seg_end!r}",
                    "bad segment",
                )
                continue
            listener, corpus, utt = str(r.listener).strip(), str(r.corpus).strip(), str(r.utt_id).strip()
            pred = _label(r.pred)
            if pred in UNANSWERED:
                self.skip(path, i, listener, corpus, utt)
                continue
            self.add(path, i, listener, corpus, utt, pred, start, end, group=str(r.group).strip() or None)


def ingest(
    lss: Sequence[str | Path],
    long: Sequence[str | Path],
    listeners: str | Path,
    stimuli: str | Path | Sequence[str | Path],
    manifests: Mapping[str, str | Path],
    emotions: Sequence[str],
    *,
    listener_column: str = "email",
    lenient: bool = False,
    simulated: bool = False,
    min_answered: float = 1.0,
) -> tuple[pd.DataFrame, Counter]:
    """All answers as one `responses` table, plus the count of dropped rows per reason.

    `stimuli` (key -> utterance tables) is read only with webMUSHRA results: a long CSV names
    its utterances itself.
    """
    labels = Spelling(emotions)
    langs: set[str] = set()
    truth = load_truth(manifests, langs)
    meta = read_listeners(listeners, sorted(langs))
    stim = read_stimulus_tables(stimuli) if lss else {}
    chk = _Checker(lenient)
    answers = _Answers(meta, truth, labels, listeners, simulated, chk)
    for p in lss:
        answers.from_lss(Path(p), listener_column, stim, stimuli)
    for p in long:
        answers.from_long(Path(p))
    if answers.unanswered:
        log.info("skipped %d unanswered trials (NA)", answers.unanswered)
    if chk.drops:
        log.warning("dropped %d rows (lenient): %s", sum(chk.drops.values()), dict(chk.drops))
    check_complete(answers.answered, answers.presented, meta, answers.where, listeners, min_answered)
    out = pd.DataFrame(answers.rows, columns=RESPONSE_COLUMNS)
    if out.empty:
        raise InputError(lss[0] if lss else (long[0] if long else None), "no valid listening-test answers")
    out["seg_start"] = out["seg_start"].astype(float)
    out["seg_end"] = out["seg_end"].astype(float)
    log.info("%d answers of %d listeners", len(out), out["listener"].nunique())
    return validate_table(out, "responses"), chk.drops
