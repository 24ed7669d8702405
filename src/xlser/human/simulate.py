"""Simulated demo listeners, answering the workflow's own listening kits in webMUSHRA's format.

Nothing here is human data: every output says so (listener background `simulated`, the
`simulated` column of responses.csv, table captions). Answers are drawn per listener from
the study's Table III human matrices (group CN: panels a/e/k on CN/DE/EN corpora; group DE:
g/c/m), each row perturbed per listener by a Dirichlet around it, so listeners differ the
way real ones do and Welch's tests have variance to work with.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xlser.human.kit import read_kit
from xlser.human.tables import study_table2, study_table3
from xlser.io import read_csv, write_csv, write_text

log = logging.getLogger(__name__)

# Per-group segment-answer noise (the study's Table IV: DE listeners' EDER below CN's).
SEGMENT_NOISE = {"CN": {"p_correct": 0.85, "jitter": 0.25}, "DE": {"p_correct": 0.9, "jitter": 0.18}}
DEFAULT_SEGMENT_NOISE = {"p_correct": 0.85, "jitter": 0.25}


def derived_matrix(group: str, target_ua: float, emotions: Sequence[str]) -> np.ndarray:
    """A confusion matrix for a language the study gives no matrix for (the TJ dialect).

    Diagonal = `target_ua` in every row (so UA = target_ua, e.g. Table II's TJ: CN 67.5 %,
    DE 29.2 %); the off-diagonal mass 1 - target_ua is spread like the group's own confusions
    averaged over the study's human matrices of that group (diagonal removed, rows renormalised),
    so a group keeps its typical confusions (e.g. happy -> neutral).
    """
    ref = study_table3()
    ref = ref[(ref["who"] == "human") & (ref["group"] == group)]
    k = len(emotions)
    if ref.empty:
        off = np.ones((k, k)) - np.eye(k)
    else:
        mats = [
            g.set_index("true").reindex(list(emotions))[list(emotions)].to_numpy(float) for _, g in ref.groupby("panel")
        ]
        off = np.nanmean(mats, axis=0) * (1 - np.eye(k)) + 1e-3 * (1 - np.eye(k))
    off = off / off.sum(axis=1, keepdims=True)
    return target_ua * np.eye(k) + (1 - target_ua) * off


def human_matrix(group: str, lang: str, emotions: Sequence[str]) -> np.ndarray:
    """Row-stochastic matrix for `group` listening to `lang`: the study's, else derived from Table II."""
    ref = study_table3()
    ref = ref[(ref["who"] == "human") & (ref["group"] == group) & (ref["corpus_lang"] == lang)]
    if not ref.empty:
        m = ref.set_index("true").reindex(list(emotions))[list(emotions)].to_numpy(float)
        return m / m.sum(axis=1, keepdims=True)  # the published rows are rounded
    t2 = study_table2()
    if group in t2.index and lang in t2.columns:
        target = float(t2.at[group, lang]) / 100
    else:
        own = study_table3()
        own = own[(own["who"] == "human") & (own["group"] == group)]
        target = float(np.mean([own[e][own["true"] == e].mean() for e in emotions])) if not own.empty else 0.5
    return derived_matrix(group, target, emotions)


def listener_table(groups: Sequence[str], per_group: int) -> pd.DataFrame:
    """Listener ids like `CN01`, their group (= L1), alternating gender, background `simulated`."""
    rows = [
        {"listener": f"{g}{i + 1:02d}", "group": g, "gender": "f" if i % 2 == 0 else "m", "background": "simulated"}
        for g in groups
        for i in range(per_group)
    ]
    return pd.DataFrame(rows)


def write_lss(rows: Sequence[Mapping[str, object]], columns: Sequence[str], path: str | Path) -> None:
    """Write rows as webMUSHRA's service/write.php does: PHP `fputcsv` quoting (a field with a
    comma, quote, backslash, space, tab or line break is enclosed in quotes, quotes doubled),
    newline line ends, one header."""

    def field(v: object) -> str:
        s = str(v)
        return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\\ \t\r\n') else s

    lines = [",".join(field(c) for c in columns)] + [",".join(field(r.get(c, "")) for c in columns) for r in rows]
    write_text("\n".join(lines) + "\n", path)


@dataclass
class _Listening:
    """What the simulated listeners draw from: one seeded generator for every answer, in a
    fixed order (so the demo's responses are a function of its seed), the Dirichlet
    concentration around the study's matrices, and each listening stimulus's true emotion."""

    rng: np.random.Generator
    kappa: float
    emotions: list[str]
    corpora: Mapping[str, Mapping]
    truth: dict[tuple[str, str], str]  # (corpus, utt_id) -> emotion
    listener_column: str

    def answer_kit(self, test_id: str, kit_dir: str | Path, takers: pd.DataFrame) -> tuple[list[dict], list[str], int]:
        """Every taker's answers to one kit, as lss.csv rows; with its columns and page count."""
        emo, rng = self.emotions, self.rng
        kit_test_id, pages, stim, questions = read_kit(kit_dir, test_id)
        if self.listener_column not in questions:
            raise ValueError(f"kit {kit_dir} does not ask for the listener id field {self.listener_column!r}")
        rows = []
        for lis in takers.itertuples():
            mats = {}
            for corpus in sorted({stim[p.stimulus][0] for p in pages}):
                base = human_matrix(lis.group, self.corpora[corpus]["lang"], emo)
                mats[corpus] = np.stack([rng.dirichlet(self.kappa * row + 0.05) for row in base])
            answers = {"age": int(rng.integers(20, 40)), "gender": lis.gender, self.listener_column: lis.listener}
            for i in rng.permutation(len(pages)):
                page = pages[i]
                corpus, utt = stim[page.stimulus]
                row = mats[corpus][emo.index(self.truth[(corpus, utt)])]
                answer = emo[int(rng.choice(len(emo), p=row))]
                if answer not in page.values:
                    raise ValueError(f"kit {kit_dir}: page {page.id} offers no answer {answer!r}")
                rows.append(
                    {
                        "session_test_id": kit_test_id,
                        **{q: answers.get(q, "") for q in questions},
                        "trial_id": page.id,
                        "stimuli_rating": answer,
                        "stimuli": page.stimulus,
                        "rating_time": int(rng.gamma(4.0, 900.0)),
                    }
                )
        columns = ["session_test_id", *questions, "trial_id", "stimuli_rating", "stimuli", "rating_time"]
        return rows, columns, len(pages)

    def segments(self, listeners: pd.DataFrame, sub: pd.DataFrame, sed_corpus: str) -> pd.DataFrame:
        """Every listener's segment answer to every SED utterance: the emotional segment's bounds
        jittered by a listener-level precision, its emotion right with the group's probability."""
        rng = self.rng
        seg_rows = []
        for lis in listeners.itertuples():
            noise = SEGMENT_NOISE.get(lis.group, DEFAULT_SEGMENT_NOISE)
            skill = rng.normal(1.0, 0.15)  # listener-level boundary precision
            for r in sub.itertuples():
                length = max(float(r.seg_end) - float(r.seg_start), 0.1)
                sd = max(noise["jitter"] * length * skill, 0.01)
                start = float(np.clip(r.seg_start + rng.normal(0, sd), 0, r.duration_s))
                end = float(np.clip(r.seg_end + rng.normal(0, sd), 0, r.duration_s))
                if end - start < 0.05:
                    start, end = float(r.seg_start), float(r.seg_end)
                pred = (
                    r.emotion
                    if rng.random() < noise["p_correct"]
                    else str(rng.choice([e for e in self.emotions if e != r.emotion]))
                )
                seg_rows.append(
                    {
                        "listener": lis.listener,
                        "group": lis.group,
                        "corpus": sed_corpus,
                        "utt_id": r.utt_id,
                        "pred": pred,
                        "seg_start": round(start, 3),
                        "seg_end": round(end, 3),
                    }
                )
        return pd.DataFrame(seg_rows, columns=["listener", "group", "corpus", "utt_id", "pred", "seg_start", "seg_end"])


def answer_kits(
    kits: Mapping[str, str | Path],
    listening: Mapping[str, str | Path],
    corpora: Mapping[str, Mapping],
    emotions: Sequence[str],
    spec: Mapping,
    out_listeners: str | Path,
    out_lss: Mapping[str, str | Path],
    *,
    test_groups: Mapping[str, Sequence[str]],
    sed_subset: str | Path | None = None,
    sed_corpus: str | None = None,
    out_segments: str | Path | None = None,
    listener_column: str = "email",
) -> dict[str, int]:
    """Simulated listeners take the listening kits the workflow built and answer as webMUSHRA records it.

    `kits`: testId -> kit folder; `out_lss`: testId -> where its lss.csv goes (webMUSHRA's
    `results/<testId>/lss.csv`); `test_groups`: testId -> listener groups taking it (empty: all).
    Each listener answers every answer page of the kit (page id as `trial_id`, the kit's
    stimulus key as `stimuli`, the response value as is as `stimuli_rating`, as today's
    write.php writes it) in an order of their own, and fills the kit's finish-page questionnaire. Truth comes from the
    listening tables (`listening`: corpus -> splits/<corpus>.listening.csv). Also writes
    listener metadata and (with an SED subset) segment answers. Returns row counts.
    """
    rng = np.random.default_rng(int(spec.get("seed", 0)))
    groups = list(spec.get("groups", ["CN", "DE"]))
    kappa = float(spec.get("concentration", 40.0))
    listeners = listener_table(groups, int(spec.get("per_group", 6)))
    truth = {}
    for corpus, path in listening.items():
        df = read_csv(path, ["utt_id", "emotion"], dtype=str)
        truth.update({(corpus, u): e for u, e in zip(df["utt_id"], df["emotion"], strict=True)})
    sim = _Listening(rng, kappa, list(emotions), corpora, truth, listener_column)

    orphans = sorted(set(out_lss) - set(kits))
    if orphans:
        raise ValueError(
            f"webMUSHRA result folders {orphans} match no listening kit (kits: {sorted(kits)}): "
            "name each folder after its test id"
        )
    counts = {"listeners": len(listeners), "stimuli": 0, "answers": 0}
    for test_id, kit_dir in kits.items():
        if test_id not in out_lss:
            raise ValueError(f"no lss.csv output for listening test {test_id!r} (outputs: {sorted(out_lss)})")
        takers = listeners[listeners["group"].isin(test_groups.get(test_id) or groups)]
        rows, columns, n_pages = sim.answer_kit(test_id, kit_dir, takers)
        write_lss(rows, columns, out_lss[test_id])
        counts["stimuli"] += n_pages
        counts["answers"] += len(rows)
    write_csv(listeners, out_listeners)

    if out_segments is not None:
        if sed_subset is None or sed_corpus is None:
            raise ValueError("segment answers need the SED subset and the SED corpus name")
        sub = read_csv(sed_subset, ["utt_id", "emotion", "seg_start", "seg_end", "duration_s"], dtype={"utt_id": str})
        segments = sim.segments(listeners, sub, sed_corpus)
        write_csv(segments, out_segments)
        counts["segments"] = len(segments)
    log.info("simulated listeners: %s", counts)
    return counts
