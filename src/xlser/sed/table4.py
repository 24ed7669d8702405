"""Table IV (EDER % per emotion, per SED model and per listener group) and the timeline figure.

Aggregation: a model's cell is the mean EDER over the subset utterances of that emotion.
A listener group's cell first averages, per utterance, over the group's listeners who
answered it, then averages over the utterances of that emotion; so every utterance weighs
the same for models and humans. The `average` row is the mean over all subset utterances
(with the balanced subset, the mean of the three emotion rows, as in the study).

Listener answers are the `results/human/responses.csv` rows of the SED corpus: the segment
the listener marked (`seg_start`, `seg_end`) carries the emotion they gave (`pred`), the
rest of the utterance counts as neutral; a `pred` of neutral, or no segment, is an
all-neutral answer. Both are scored by `xlser.sed.eder` (speechbrain's EDER, frames at the
models' window and stride). An answer on an utterance outside the subset is an error (with
`lenient`, counted, logged and left out): see `xlser.sed.subset`.

The study's Table IV (`src/xlser/data/study_table4.csv`) stands beside ours: `<system> (study)`
columns, the WavLM column after our models, each listener group's next to ours.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from xlser.contracts import read_table
from xlser.errors import InputError
from xlser.io import atomic_path
from xlser.report.tables import write_table
from xlser.sed.eder import NEUTRAL, letter, segment_eder, utterance_eder
from xlser.sed.subset import answers_in_subset, read_subset, sed_answers
from xlser.spelling import fold

log = logging.getLogger(__name__)

COLOURS = {"n": "#d9d9d9", "a": "#d62728", "h": "#ff7f0e", "s": "#1f77b4"}


def read_frames(path: str | Path) -> dict[str, Any]:
    """A `frames.json` written by `diarize`, checked for the keys Table IV needs."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not a readable frames.json ({exc})") from None
    for key in ("model", "window", "stride", "utterances"):
        if key not in doc:
            raise InputError(path, f"missing key '{key}' (expected model, window, stride, utterances)")
    return doc


def model_eders(doc: dict[str, Any], subset: pd.DataFrame, path: str | Path = "frames.json") -> pd.DataFrame:
    """utt_id, emotion, eder of one model on every subset utterance."""
    rows = []
    for r in subset.itertuples():
        utt = doc["utterances"].get(r.utt_id)
        if utt is None:
            raise InputError(path, f"no frames for subset utterance '{r.utt_id}'")
        e = utterance_eder(
            list(utt["frames"]),
            r.duration_s,
            r.emotion,
            r.seg_start,
            r.seg_end,
            float(doc["window"]),
            float(doc["stride"]),
            r.utt_id,
        )
        rows.append({"utt_id": r.utt_id, "emotion": r.emotion, "eder": e})
    return pd.DataFrame(rows)


def segment_answers(
    responses: pd.DataFrame,
    corpus: str | None,
    subset: pd.DataFrame,
    path: str | Path = "responses.csv",
    lenient: bool = False,
) -> pd.DataFrame:
    """The listeners' segment answers on the SED corpus; every one must be on a subset
    utterance (else an InputError naming its line; `lenient`: counted, logged, left out)."""
    ids = set(subset["utt_id"])
    if corpus is None:  # no SED corpus to tell segment answers by: those on subset utterances
        return responses[responses["utt_id"].isin(ids)].reset_index(drop=True)
    return answers_in_subset(sed_answers(responses, corpus), ids, path, lenient).reset_index(drop=True)


def listener_eders(answers: pd.DataFrame, subset: pd.DataFrame, window: float, stride: float) -> pd.DataFrame:
    """listener, group, utt_id, emotion, eder for every segment answer."""
    ref = subset.set_index("utt_id")
    rows = []
    for a in answers.itertuples():
        r = ref.loc[a.utt_id]
        has_seg = pd.notna(a.seg_start) and pd.notna(a.seg_end) and letter(a.pred) != NEUTRAL
        e = segment_eder(
            float(r.duration_s),
            r.emotion,
            float(r.seg_start),
            float(r.seg_end),
            str(a.pred),
            float(a.seg_start) if has_seg else None,
            float(a.seg_end) if has_seg else None,
            window,
            stride,
            a.utt_id,
        )
        rows.append({"listener": a.listener, "group": a.group, "utt_id": a.utt_id, "emotion": r.emotion, "eder": e})
    return pd.DataFrame(rows, columns=["listener", "group", "utt_id", "emotion", "eder"])


def table4(per_system: dict[str, pd.DataFrame], emotions: Sequence[str]) -> pd.DataFrame:
    """Rows = emotions + average, one column per system; EDER in % (numbers)."""
    out = pd.DataFrame({"emotion": list(emotions) + ["average"]})
    for name, df in per_system.items():
        per_utt = df.groupby(["utt_id", "emotion"], as_index=False)["eder"].mean()
        vals = [per_utt.loc[per_utt["emotion"] == e, "eder"].mean() for e in emotions]
        vals.append(per_utt["eder"].mean())
        out[name] = np.round(np.asarray(vals, dtype=float) * 100, 2)
    return out


def study_table4() -> pd.DataFrame:
    """The study's Table IV (EDER % per emotion + average; WavLM, CN listeners, DE listeners)."""
    return pd.read_csv(files("xlser") / "data" / "study_table4.csv")


def beside_study(table: pd.DataFrame, study: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Our Table IV with the study's columns (`<system> (study)`) inserted: the study's model
    column(s) after our models, each listener group's study column after ours. The study's
    emotions and groups are matched in one spelling (`xlser.spelling`: `Angry`, `cn listeners`)."""
    names = {fold(e): e for e in table["emotion"]}
    columns = {fold(c): c for c in table.columns if c.endswith(" listeners")}
    ref = study.assign(emotion=[names.get(fold(e), e) for e in study["emotion"]])
    ref = ref.rename(columns={c: columns.get(fold(c), c) for c in ref.columns})
    ref = ref.set_index("emotion").reindex(table["emotion"])
    ours = [c for c in table.columns if c != "emotion"]
    study_models = [c for c in ref.columns if not c.endswith(" listeners")]
    groups = list(
        dict.fromkeys(
            [c for c in ours if c.endswith(" listeners")] + [c for c in ref.columns if c.endswith(" listeners")]
        )
    )
    cols: dict[str, pd.Series | np.ndarray] = {"emotion": table["emotion"]}
    for c in models:
        cols[c] = table[c]
    for c in study_models:
        cols[f"{c} (study)"] = ref[c].to_numpy(float)
    for g in groups:
        if g in table.columns:
            cols[g] = table[g]
        if g in ref.columns:
            cols[f"{g} (study)"] = ref[g].to_numpy(float)
    for c in ours:
        if c not in cols:
            cols[c] = table[c]
    return pd.DataFrame(cols)


def make_table4(
    frames_json: Sequence[str | Path],
    subset_csv: str | Path,
    responses_csv: str | Path,
    out_stem: str | Path,
    figure: str | Path,
    sed_emotions: Sequence[str],
    corpus: str | None,
    window: float = 0.02,
    stride: float = 0.02,
    n_examples: int = 3,
    lenient: bool = False,
) -> pd.DataFrame:
    """Table IV (`<stem>.csv/.md/.tex`, ours beside the study's) and the timeline figure."""
    subset = read_subset(subset_csv)
    subset = subset[subset["emotion"].isin(list(sed_emotions))].reset_index(drop=True)
    docs = [read_frames(p) for p in frames_json]
    systems: dict[str, pd.DataFrame] = {}
    for doc, p in zip(docs, frames_json):
        systems[str(doc["model"])] = model_eders(doc, subset, p)
    responses = read_table(responses_csv, "responses")
    answers = segment_answers(responses, corpus, subset, responses_csv, lenient)
    per_listener = listener_eders(answers, subset, window, stride)
    for group, df in per_listener.groupby("group", sort=True):
        systems[f"{group} listeners"] = df
    if not len(per_listener):
        log.warning(
            "no listener segment answers for corpus %s in %s: Table IV has model columns only", corpus, responses_csv
        )
    # reference: an all-neutral prediction, the floor a model must beat
    neutral = [
        {
            "utt_id": r.utt_id,
            "emotion": r.emotion,
            "eder": utterance_eder(
                [NEUTRAL], r.duration_s, r.emotion, r.seg_start, r.seg_end, r.duration_s, r.duration_s, r.utt_id
            ),
        }
        for r in subset.itertuples()
    ]
    table = table4(systems, sed_emotions)
    table_all = beside_study(
        table4({**systems, "all neutral": pd.DataFrame(neutral)}, sed_emotions),
        study_table4(),
        [str(d["model"]) for d in docs],
    )
    shown = table_all.copy()
    for c in shown.columns[1:]:
        shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    write_table(
        shown,
        out_stem,
        caption="EDER (%) on the SED subset (lower is better); '(study)' = the study's "
        "Table IV (WavLM = speechbrain/emotion-diarization-wavlm-large); 'all "
        "neutral' is the baseline of predicting no emotion",
        label="tab:eder",
        csv_df=table_all,
    )
    plot_timeline(docs, subset, answers, figure, n_examples)
    log.info("Table IV:\n%s", table_all.to_string(index=False))
    return table


def _runs(frames: str, stride: float) -> list[tuple[float, float, str]]:
    out, start = [], 0
    for i in range(1, len(frames) + 1):
        if i == len(frames) or frames[i] != frames[start]:
            out.append((start * stride, (i - start) * stride, frames[start]))
            start = i
    return out


def plot_timeline(
    docs: Sequence[dict[str, Any]],
    subset: pd.DataFrame,
    answers: pd.DataFrame,
    out_png: str | Path,
    n_examples: int = 3,
) -> None:
    """For one utterance per emotion (up to `n_examples`): reference, model frames, listeners' segments."""
    picks = subset.groupby("emotion", sort=False).head(1).head(n_examples)
    fig, axes = plt.subplots(len(picks), 1, figsize=(9, 1.2 + 0.9 * len(picks) * (1 + len(docs))), squeeze=False)
    for ax, r in zip(axes[:, 0], picks.itertuples()):
        lanes: list[tuple[str, list[tuple[float, float, str]], float]] = []
        ref = [
            (0.0, r.seg_start, "n"),
            (r.seg_start, r.seg_end - r.seg_start, letter(r.emotion)),
            (r.seg_end, r.duration_s - r.seg_end, "n"),
        ]
        lanes.append(("reference", ref, 0.8))
        for doc in docs:
            utt = doc["utterances"].get(r.utt_id)
            if utt:
                lanes.append((str(doc["model"]), _runs(utt["frames"], float(doc["stride"])), 0.8))
        ans = answers[answers["utt_id"] == r.utt_id]
        for group, g in ans.groupby("group", sort=True):
            segs = []
            for a in g.itertuples():
                if pd.notna(a.seg_start) and pd.notna(a.seg_end) and letter(a.pred) != NEUTRAL:
                    segs.append((float(a.seg_start), float(a.seg_end) - float(a.seg_start), letter(a.pred)))
                else:  # an all-neutral answer
                    segs.append((0.0, float(r.duration_s), NEUTRAL))
            lanes.append((f"{group} listeners (n={len(g)})", segs, 0.8 / max(1, len(g))))
        labels = []
        for k, (name, segs, height) in enumerate(lanes):
            y = len(lanes) - 1 - k
            if height < 0.8:  # one thin bar per listener
                for j, (s0, w, lab) in enumerate(segs):
                    ax.broken_barh([(s0, w)], (y - 0.4 + j * height, height * 0.9), color=COLOURS.get(lab, "k"))
            else:
                for s0, w, lab in segs:
                    ax.broken_barh([(s0, w)], (y - 0.4, 0.8), color=COLOURS.get(lab, "k"))
            labels.append((y, name))
        ax.set_yticks([y for y, _ in labels], [n for _, n in labels])
        ax.set_xlim(0, r.duration_s)
        ax.set_title(f"{r.utt_id} ({r.emotion})", fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    handles = [
        matplotlib.patches.Patch(color=c, label=lab)
        for lab, c in zip(["neutral", "angry", "happy", "sad"], COLOURS.values())
    ]
    fig.legend(handles=handles, loc="upper right", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
