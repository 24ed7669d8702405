"""The study's Table II (human UA per listener group x corpus language) and Table III
(row-normalised confusion matrices of humans and of the matching models, plus a heatmap figure).

Table III's model panels (`source: finetune`, the study's) score exactly the utterances the
listener group answered on the corpus, with the fine-tuned fold models of the matching
experiment: each fold job writes `stimuli.csv` (the corpus's listening stimuli scored by
its best checkpoint, `in_train` marking stimuli in that fold's training partition). Only
fold models whose training never saw a stimulus score it (eligible); `combine` says how:
`average` (default): one prediction per stimulus, the most probable class of the class
probabilities averaged over the eligible fold models; `pool` (the study's): every eligible
fold model's prediction on every stimulus is counted, then rows are normalised (5 fold
models x 48 stimuli = 240 predictions; reproduces the study's panels from its logs).
`source: probe` keeps the layer-wise probes' test predictions pooled over the folds (not
the stimuli).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from xlser.contracts import read_table
from xlser.errors import InputError
from xlser.io import atomic_path
from xlser.metrics import confusion, ua
from xlser.report.tables import write_table
from xlser.spelling import Spelling
from xlser.spelling import fold as spelled

log = logging.getLogger(__name__)

LANG_ORDER = ["CN", "DE", "EN", "TJ"]
SIMULATED_NOTE = " SIMULATED listeners (demo): these numbers say nothing about humans."


def study_table3() -> pd.DataFrame:
    """The study's Table III matrices as data (`panel, who, group, corpus_lang, setting, true, <emotions>`)."""
    return pd.read_csv(files("xlser") / "data" / "study_table3.csv", dtype={"panel": str})


def study_table2() -> pd.DataFrame:
    """The study's Table II (UA % per listener group x corpus language)."""
    return pd.read_csv(files("xlser") / "data" / "study_table2.csv").set_index("group")


def utterance_answers(responses: pd.DataFrame, corpora: Mapping[str, Mapping]) -> pd.DataFrame:
    """Utterance-level answers on listening corpora (segment answers belong to the SED stage)."""
    df = responses[responses["seg_start"].isna() & responses["corpus"].isin(list(corpora))].copy()
    df["lang"] = df["corpus"].map(lambda c: corpora[c]["lang"])
    return df


def _lang_key(lang: str) -> tuple[int, str]:
    order = [spelled(x) for x in LANG_ORDER]
    return (order.index(spelled(lang)) if spelled(lang) in order else len(order), lang)


def _study_ua(study: pd.DataFrame, group: str, lang: str) -> float:
    """The study's Table II cell of a group and language, compared in one spelling (`cn` is its CN)."""
    rows = {spelled(i): i for i in study.index}
    cols = {spelled(c): c for c in study.columns}
    r, c = rows.get(spelled(group)), cols.get(spelled(lang))
    return float(study.at[r, c]) if r is not None and c is not None else float("nan")


def listener_ua(responses: pd.DataFrame, corpora: Mapping[str, Mapping], emotions: Sequence[str]) -> pd.DataFrame:
    """UA of every listener on every corpus language (answers of that language's corpora pooled)."""
    df = utterance_answers(responses, corpora)
    rows = [
        {
            "listener": lis,
            "group": grp,
            "lang": lang,
            "n_answers": len(g),
            "ua": ua(g["true"].tolist(), g["pred"].tolist(), emotions),
        }
        for (lis, grp, lang), g in df.groupby(["listener", "group", "lang"], sort=True)
    ]
    return pd.DataFrame(rows, columns=["listener", "group", "lang", "n_answers", "ua"])


def table2(
    responses: pd.DataFrame, corpora: Mapping[str, Mapping], emotions: Sequence[str], confidence: float = 0.95
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(formatted Table II, raw long numbers): mean UA over listeners, sample std, t-based CI.

    Answers per listener are part of the table (`answers per listener`: min-max of each
    group's listeners over all corpora; raw `answers_min`/`answers_max` per cell), so a
    listener who answered fewer trials than the others is seen where the mean is read."""
    per = listener_ua(responses, corpora, emotions)
    if per.empty:
        raise InputError(None, "no utterance-level answers on the listening corpora")
    study = study_table2()
    raw = []
    for (grp, lang), g in per.groupby(["group", "lang"]):
        x = g["ua"].to_numpy(float)
        n = len(x)
        mean = float(x.mean())
        sd = float(x.std(ddof=1)) if n > 1 else float("nan")
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
        ref = _study_ua(study, grp, lang)
        raw.append(
            {
                "group": grp,
                "lang": lang,
                "n_listeners": n,
                "ua_mean": 100 * mean,
                "ua_std": 100 * sd,
                "ci_low": 100 * (mean - half),
                "ci_high": 100 * (mean + half),
                "study_ua": ref,
                "answers_min": int(g["n_answers"].min()),
                "answers_max": int(g["n_answers"].max()),
            }
        )
    raw_df = pd.DataFrame(raw)
    langs = sorted(raw_df["lang"].unique(), key=_lang_key)
    table = pd.DataFrame(
        index=pd.Index(sorted(raw_df["group"].unique(), key=_lang_key), name="listeners"), columns=langs, dtype=object
    )
    for r in raw_df.itertuples():
        cell = f"{r.ua_mean:.1f} ± {r.ua_std:.1f}" if r.n_listeners > 1 else f"{r.ua_mean:.1f}"
        table.at[r.group, r.lang] = cell
    table = table.fillna("–")
    total = per.groupby(["group", "listener"])["n_answers"].sum().groupby("group")
    lo, hi = total.min(), total.max()
    table["answers per listener"] = [f"{lo[g]}" if lo[g] == hi[g] else f"{lo[g]}–{hi[g]}" for g in table.index]
    return table.reset_index(), raw_df


def write_table2(
    responses_path: str | Path, corpora: Mapping[str, Mapping], emotions: Sequence[str], stem: str | Path
) -> pd.DataFrame:
    """Read responses, write `<stem>.csv/.md/.tex` (CSV = raw numbers with n and CI)."""
    responses = read_table(responses_path, "responses")
    table, raw = table2(responses, corpora, emotions)
    simulated = bool(responses["simulated"].fillna(False).any()) if "simulated" in responses else False
    caption = (
        "Human UA (%) per listener group (rows) and corpus language (columns): mean ± std over "
        "listeners; 95 % t-based CIs in the CSV. Answers per listener: min–max over the group's listeners "
        "(utterance-level answers on all corpora)." + (SIMULATED_NOTE if simulated else "")
    )
    write_table(table, stem, caption=caption, label="tab:human_ua", csv_df=raw.assign(simulated=simulated))
    return raw


# ---------------------------------------------------------------- Table III


def _long_matrix(cm: pd.DataFrame, meta: dict, n: pd.Series, n_utt: pd.Series | None = None) -> list[dict]:
    return [
        {
            **meta,
            "true": t,
            "n": int(n.get(t, 0)),
            "n_utterances": int(n_utt.get(t, 0)) if n_utt is not None else float("nan"),
            **{p: float(cm.at[t, p]) for p in cm.columns},
        }
        for t in cm.index
    ]


def _distinct_utts(df: pd.DataFrame) -> pd.Series:
    return df.groupby("true")["utt_id"].nunique()


FoldStimuli = Mapping[tuple[str, str, str], Sequence[tuple[int, str, pd.DataFrame]]]


def parse_stimuli_path(path: str | Path) -> tuple[str, str, str, str, int]:
    """(model, train, test, strategy, fold) of `.../peft/<model>/<train>__<test>/<strategy>/fold<k>/stimuli.csv`."""
    parts = Path(path).parts
    if len(parts) < 5 or "__" not in parts[-4] or not parts[-2].startswith("fold") or not parts[-2][4:].isdigit():
        raise InputError(path, "expected a path .../<model>/<train>__<test>/<strategy>/fold<k>/stimuli.csv")
    train, test = parts[-4].split("__", 1)
    return parts[-5], train, test, parts[-3], int(parts[-2][4:])


def read_fold_stimuli(paths: Sequence[str | Path], emotions: Sequence[str]) -> dict[tuple[str, str, str], list]:
    """(model, train, test) -> [(fold, path, frame)] of the fine-tuned fold models' stimulus scores.

    Each frame is checked: `utt_id, true, pred, in_train` and `p_<emotion>` for every emotion.
    """
    from xlser.io import read_csv

    out: dict[tuple[str, str, str], list] = {}
    need = ["utt_id", "true", "pred", "in_train", *(f"p_{e}" for e in emotions)]
    for p in paths:
        model, train, test, _, fold = parse_stimuli_path(p)
        df = read_csv(p, need, dtype={"utt_id": str, "true": str, "pred": str}, nonempty=False)
        flags = df["in_train"].map(lambda v: str(v).strip().lower())
        bad = ~flags.isin({"true", "false", "1", "0"})
        if bad.any():
            raise InputError(
                p,
                f"column 'in_train' must be true/false, got {df['in_train'][bad].iloc[0]!r}",
                line=int(bad.to_numpy().nonzero()[0][0]) + 2,
            )
        df["in_train"] = flags.isin({"true", "1"})
        out.setdefault((model, train, test), []).append((fold, str(p), df))
    return out


COMBINE = ("average", "pool")


def stimulus_predictions(
    folds: Sequence[tuple[int, str, pd.DataFrame]],
    stimuli: Sequence[str],
    emotions: Sequence[str],
    what: str = "",
    combine: str = "average",
) -> pd.DataFrame:
    """The model panel's predictions on the stimuli, from the fold models whose training
    partition did not hold them (`in_train` false).

    `average`: one row per stimulus, argmax of the class probabilities averaged over those
    fold models (`n_folds` of them). `pool`: one row per stimulus and eligible fold model,
    with that model's own prediction (`pred`), so every prediction counts once.
    Rows of utterances that are not `stimuli` are ignored; a stimulus with no eligible fold
    model, or with different true labels across folds, is an InputError naming it.
    """
    if combine not in COMBINE:
        raise ValueError(f"human.table3.combine '{combine}': expected one of {list(COMBINE)}")
    pcols = [f"p_{e}" for e in emotions]
    wanted = set(stimuli)
    parts = []
    for fold, path, df in folds:
        sel = df[df["utt_id"].isin(wanted) & ~df["in_train"]]
        parts.append(sel.assign(fold=fold, _path=path)[["utt_id", "true", "pred", "fold", "_path", *pcols]])
    pool = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["utt_id", "true", "pred", "fold", *pcols])
    )
    files_ = ", ".join(sorted({p for _, p, _ in folds})) or "(no stimuli.csv)"
    missing = sorted(wanted - set(pool["utt_id"]))
    if missing:
        raise InputError(
            files_,
            f"{what}: stimulus '{missing[0]}' ({len(missing)} in all) has no fold model "
            "whose training partition excluded it (in_train false); exclude the listening "
            "stimuli from training or add folds",
        )
    labels = pool.groupby("utt_id")["true"].nunique()
    if (labels > 1).any():
        u = labels[labels > 1].index[0]
        raise InputError(files_, f"{what}: stimulus '{u}' has different true labels across folds")
    if combine == "pool":
        out = pool.sort_values(["utt_id", "fold"], kind="stable").reset_index(drop=True)
        return out.assign(n_folds=1)[["utt_id", "true", "pred", "n_folds", "fold", *pcols]]
    agg = (
        pool.groupby("utt_id", sort=True)
        .agg(true=("true", "first"), n_folds=("fold", "nunique"), **{c: (c, "mean") for c in pcols})
        .reset_index()
    )
    agg["pred"] = [emotions[i] for i in np.argmax(agg[pcols].to_numpy(float), axis=1)]
    return agg[["utt_id", "true", "pred", "n_folds", *pcols]]


def model_panels(
    group: str,
    corpus: str,
    lang: str,
    models: Mapping[str, Mapping],
    experiments: Sequence[Mapping],
    corpora: Mapping[str, Mapping],
) -> list[dict]:
    """The model experiments that match listener group `group` on `corpus` (language `lang`).

    Model = the one whose `lang` is the group's language; L == G -> mono; otherwise cross
    (trained on a G corpus, tested on `corpus`) and trans (trained and tested on `corpus`).
    """
    out = []
    for name, spec in models.items():
        if spec.get("lang") != group:
            continue
        for e in experiments:
            if e["model"] != name or e["test"] != corpus:
                continue
            train_lang = corpora.get(e["train"], {}).get("lang")
            if (
                (lang == group and e["setting"] == "mono")
                or (lang != group and e["setting"] == "cross" and train_lang == group)
                or (lang != group and e["setting"] == "trans" and e["train"] == corpus)
            ):
                out.append(dict(e))
    order = {"mono": 0, "cross": 0, "trans": 1}
    return sorted(out, key=lambda e: (order.get(e["setting"], 2), e["model"], e["train"]))


def read_predictions(paths: Sequence[str | Path]) -> dict[tuple[str, str, str], pd.DataFrame]:
    """(model, train, test) -> the pooled test predictions of all folds."""
    out = {}
    for p in paths:
        df = read_table(p, "predictions")
        for key, g in df.groupby(["model", "train", "test"]):
            out[tuple(map(str, key))] = g
    return out


def _human_panel(grp: str, corpus: str, lang: str, g: pd.DataFrame, emotions: Sequence[str]) -> list[dict]:
    """Our listeners' matrix: group `grp`'s answers `g` on one corpus."""
    cm = confusion(g["true"], g["pred"], emotions)
    meta = {
        "source": "ours",
        "who": "human",
        "group": grp,
        "corpus": corpus,
        "lang": lang,
        "setting": "human",
        "model": "",
        "strategy": "",
        "train": "",
        "test": corpus,
        "n_listeners": g["listener"].nunique(),
        "ua": ua(g["true"].tolist(), g["pred"].tolist(), emotions),
    }
    return _long_matrix(cm, meta, g["true"].value_counts(), _distinct_utts(g))


@dataclass(frozen=True)
class _ModelScores:
    """Where a model panel's predictions come from: each experiment's fold models scoring the
    listening stimuli (`fold_stimuli`, combined by `combine`), else the probes' pooled test
    folds (`predictions`)."""

    predictions: Mapping[tuple[str, str, str], pd.DataFrame]
    fold_stimuli: FoldStimuli | None
    emotions: Sequence[str]
    strategy: str
    combine: str

    def panel(self, grp: str, corpus: str, lang: str, g: pd.DataFrame, e: Mapping) -> list[dict] | None:
        """Experiment `e`'s matrix beside group `grp`'s on one corpus; None (logged) without its scores."""
        emotions, fold_stimuli = self.emotions, self.fold_stimuli
        key = (e["model"], e["train"], e["test"])
        source = fold_stimuli if fold_stimuli is not None else self.predictions
        if key not in source:
            log.warning(
                "no %s for %s: no model panel",
                "fold stimuli scores" if fold_stimuli is not None else "predictions",
                key,
            )
            return None
        if fold_stimuli is not None:
            pr = stimulus_predictions(
                fold_stimuli[key],
                sorted(g["utt_id"].unique()),
                emotions,
                f"{'/'.join(key)} for {grp} listeners on {corpus}",
                self.combine,
            )
        else:
            pr = self.predictions[key]
        cm = confusion(pr["true"], pr["pred"], emotions)
        meta = {
            "source": "ours",
            "who": "model",
            "group": grp,
            "corpus": corpus,
            "lang": lang,
            "setting": e["setting"],
            "model": e["model"],
            "strategy": self.strategy,
            "train": e["train"],
            "test": e["test"],
            "n_listeners": 0,
            "ua": ua(pr["true"].tolist(), pr["pred"].tolist(), emotions),
        }
        return _long_matrix(cm, meta, pr["true"].value_counts(), _distinct_utts(pr))


def _study_panel(
    study: pd.DataFrame, grp: str, corpus: str, lang: str, setting: str, emotions: Sequence[str]
) -> list[dict]:
    """The study's matrix for the same group, language and setting, if it has one for these emotions."""
    ref = study[
        (study["group"].map(spelled) == spelled(grp))
        & (study["corpus_lang"].map(spelled) == spelled(lang))
        & (study["setting"] == setting)
    ]
    spell = Spelling(emotions)  # the study's lower-case names as configured (`Angry`)
    ref = ref.rename(columns={c: spell(c) for c in ref.columns if spell(c) is not None})
    ref = ref.assign(true=[spell(t) or t for t in ref["true"]])
    if ref.empty or not set(emotions) <= set(ref.columns):
        return []
    panel = str(ref["panel"].iloc[0])
    ref = ref.set_index("true").reindex(list(emotions))[list(emotions)]
    meta = {
        "source": f"study ({panel})",
        "who": "human" if setting == "human" else "model",
        "group": grp,
        "corpus": corpus,
        "lang": lang,
        "setting": setting,
        "model": "",
        "strategy": "",
        "train": "",
        "test": corpus,
        "n_listeners": 0,
        "ua": float(np.nanmean(np.diag(ref.to_numpy(float)))),
    }
    return _long_matrix(ref, meta, pd.Series(dtype=int))


TABLE3_COLUMNS = [
    "source",
    "who",
    "group",
    "corpus",
    "lang",
    "setting",
    "model",
    "strategy",
    "train",
    "test",
    "n_listeners",
    "ua",
    "true",
    "n",
    "n_utterances",
]  # then one column per emotion


def table3(
    responses: pd.DataFrame,
    predictions: Mapping[tuple[str, str, str], pd.DataFrame],
    emotions: Sequence[str],
    corpora: Mapping[str, Mapping],
    models: Mapping[str, Mapping],
    experiments: Sequence[Mapping],
    fold_stimuli: FoldStimuli | None = None,
    strategy: str = "probe",
    combine: str = "average",
) -> pd.DataFrame:
    """Long table of row-normalised matrices: ours (humans, matching models) and the study's.

    With `fold_stimuli` (source finetune), a model panel scores the utterances the listener
    group answered on the corpus (`stimulus_predictions`, fold models combined by `combine`);
    otherwise `predictions` (the probes' pooled test folds) are used as they are.
    `n`: predictions behind a row; `n_utterances`: distinct utterances behind it.
    """
    df = utterance_answers(responses, corpora)
    study = study_table3()
    scores = _ModelScores(predictions, fold_stimuli, emotions, strategy, combine)
    rows: list[dict] = []
    for (grp, corpus), g in sorted(
        df.groupby(["group", "corpus"]), key=lambda kv: (_lang_key(kv[0][0]), _lang_key(corpora[kv[0][1]]["lang"]))
    ):
        lang = corpora[corpus]["lang"]
        rows += _human_panel(grp, corpus, lang, g, emotions)
        settings = ["human"]
        for e in model_panels(grp, corpus, lang, models, experiments, corpora):
            panel = scores.panel(grp, corpus, lang, g, e)
            if panel is not None:
                rows += panel
                settings.append(e["setting"])
        for setting in settings:
            rows += _study_panel(study, grp, corpus, lang, setting, emotions)
    return pd.DataFrame(rows, columns=[*TABLE3_COLUMNS, *emotions])


def plot_table3(
    long: pd.DataFrame, emotions: Sequence[str], png: str | Path, pdf: str | Path, simulated: bool = False
) -> None:
    """Annotated heatmaps laid out like the study's Table III: rows corpora, columns per group
    human | model mono-or-cross | model trans; a column no corpus fills (e.g. a group with no
    matching model) is left out, so that the panels are as large as the page allows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    ours = long[long["source"] == "ours"]
    corpora = sorted(
        ours["corpus"].unique(), key=lambda c: (_lang_key(ours.loc[ours["corpus"] == c, "lang"].iloc[0]), c)
    )
    groups = sorted(ours["group"].unique(), key=_lang_key)
    slots = {"human": ["human"], "mono/cross": ["mono", "cross"], "trans": ["trans"]}
    columns = [(g, s) for g in groups for s in slots if ours.loc[ours["group"] == g, "setting"].isin(slots[s]).any()]
    ncols = len(columns)
    fig, axes = plt.subplots(len(corpora), ncols, figsize=(2.3 * ncols, 2.3 * len(corpora)), squeeze=False)
    short = [e[:3] for e in emotions]
    for i, corpus in enumerate(corpora):
        for c, (grp, slot) in enumerate(columns):
            ax = axes[i, c]
            sel = ours[(ours["corpus"] == corpus) & (ours["group"] == grp)]
            sel = sel[sel["setting"].isin(slots[slot])]
            if sel.empty:
                ax.axis("off")
                continue
            first = sel.iloc[0]
            sel = sel[(sel["model"] == first["model"]) & (sel["train"] == first["train"])]
            mat = sel.set_index("true").reindex(list(emotions))[list(emotions)].to_numpy(float)
            sns.heatmap(
                mat,
                ax=ax,
                vmin=0,
                vmax=1,
                cmap="Blues",
                annot=True,
                fmt=".2f",
                cbar=False,
                xticklabels=short,
                yticklabels=short,
                annot_kws={"size": 7},
                square=True,
            )
            who = f"human {grp}" if slot == "human" else f"{first['model']} {first['setting']}"
            ax.set_title(f"{who} on {corpus}\nUA {100 * first['ua']:.1f}%", fontsize=8)
            ax.tick_params(labelsize=7)
            if c == 0:
                ax.set_ylabel("true")
            if i == len(corpora) - 1:
                ax.set_xlabel("predicted")
    title = "Row-normalised confusion matrices (cf. study's Table III)"
    fig.suptitle(title + (" — SIMULATED listeners" if simulated else ""), fontsize=10)
    fig.tight_layout()
    for out in (png, pdf):
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=Path(out).suffix[1:], dpi=150)
    plt.close(fig)


def write_table3(
    responses_path: str | Path,
    prediction_paths: Sequence[str | Path],
    emotions: Sequence[str],
    corpora: Mapping[str, Mapping],
    models: Mapping[str, Mapping],
    experiments: Sequence[Mapping],
    stem: str | Path,
    png: str | Path,
    pdf: str | Path,
    source: str = "probe",
    stimuli_paths: Sequence[str | Path] = (),
    strategy: str = "probe",
    combine: str = "average",
) -> pd.DataFrame:
    """Read inputs, write the long CSV, a compact MD/TEX view and the heatmap figure.

    `source`: `finetune` (model panels from the fold models' `stimuli_paths`, of `strategy`,
    combined over folds by `combine`) or `probe` (the layer-wise probes' `prediction_paths`).
    """
    responses = read_table(responses_path, "responses")
    simulated = bool(responses["simulated"].fillna(False).any()) if "simulated" in responses else False
    if source == "finetune":
        other = sorted({parse_stimuli_path(p)[3] for p in stimuli_paths} - {strategy})
        if other:
            raise InputError(
                stimuli_paths[0], f"stimulus scores of strategy {other} given; Table III uses '{strategy}'"
            )
        long = table3(
            responses,
            {},
            emotions,
            corpora,
            models,
            experiments,
            fold_stimuli=read_fold_stimuli(stimuli_paths, emotions),
            strategy=strategy,
            combine=combine,
        )
    elif source == "probe":
        long = table3(responses, read_predictions(prediction_paths), emotions, corpora, models, experiments)
    else:
        raise ValueError(f"Table III model panels: source '{source}' is not finetune or probe")
    view = long.copy()
    view["panel"] = [
        f"{r.source}: {'human ' + r.group if r.who == 'human' else (r.model or 'model ' + r.group) + ' ' + r.setting}"
        + (f" ({r.strategy})" if r.who == "model" and r.strategy else "")
        for r in view.itertuples()
    ]
    view = view[["panel", "corpus", "true", *emotions]].copy()
    for e in emotions:
        view[e] = view[e].map(lambda v: f"{v:.2f}")
    how = (
        "every eligible fold model's prediction counted"
        if combine == "pool"
        else "fold models' probabilities averaged per utterance"
    )
    scored = (
        f"fine-tuned fold models scored on the utterances the listeners heard, {how}"
        if source == "finetune"
        else "layer-wise probes pooled over the cross-validation test folds"
    )
    caption = (
        "Row-normalised confusion matrices (rows true, columns predicted) of listener groups and the "
        f"matching models (mono/cross/trans; {scored}), next to the study's Table III where it exists."
        + (SIMULATED_NOTE if simulated else "")
    )
    write_table(view, stem, caption=caption, label="tab:confusions", csv_df=long.assign(simulated=simulated))
    plot_table3(long, emotions, png, pdf, simulated)
    return long
