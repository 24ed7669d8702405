"""Table I: test UA of each PEFT strategy per experiment, mean ± std over folds, beside the study's.

The study's numbers (`src/xlser/data/study_table1.csv`, in %, languages as codes) are matched
by model name, setting and the source/target languages, so a configured experiment on other
corpora of the same languages is still compared with the study's value.

The "no PEFT" column (`peft.table1.no_peft`): `frozen`, the frozen-encoder fine-tunes (head
only), or `probe`, the layer-wise probe's test UA at the experiment's fine-tuning layer (rows
of strategy `probe`, read from the probe's per-fold, per-layer scores); the study's no-PEFT
value is set beside whichever it is. The `Layer` column says per row which layer k ran and
whether it was `pinned` in the config or `chosen` by the layer-wise stage (per strategy where
they differ: two-stage jobs may take another experiment's layer, and strategies that adapt
transformer layers the best layer >= 1, `chosen>=1`, where the best of all keeps none). Beside
each strategy its trainable-parameter count (`<strategy> params`, from metrics.json).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
import pandas as pd

from xlser.errors import InputError
from xlser.peft.settings import NO_PEFT, Layer, best_layer
from xlser.report.tables import write_table

STRATEGY_ORDER = ["probe", "frozen", "lora", "lora+ba+wg", "two_stage"]
SETTING_ORDER = {"mono": 0, "cross": 1, "trans": 2}
NEEDED = ("model", "setting", "train", "test", "strategy", "fold", "ua", "wa", "macro_f1")


def read_metrics(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per metrics.json."""
    rows = []
    for p in paths:
        try:
            m = json.loads(Path(p).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(p, f"not valid JSON ({exc.msg})", line=exc.lineno) from None
        missing = [k for k in NEEDED if k not in m]
        if missing:
            raise InputError(p, f"missing keys {missing}: expected a finetune metrics.json")
        extra = ("layer", "layer_source", "train_lang", "test_lang", "epochs", "trainable_params")
        rows.append({k: m.get(k) for k in (*NEEDED, *extra)})
    return pd.DataFrame(rows)


def probe_rows(
    scores: Mapping[tuple[str, str, str], str | Path],
    layers: Mapping[tuple[str, str, str], Layer],
    best_layers: str | Path | None,
    folds: Sequence[int],
    metrics: pd.DataFrame,
) -> pd.DataFrame:
    """The "no PEFT" column from the layer-wise probes: per experiment (model, train, test) and
    fold, the probe's test scores at the experiment's fine-tuning layer (`layers`: pinned, or
    the `best_layers` row), as rows of strategy `probe`; languages from the fine-tunes' rows."""
    out = []
    for exp, path in scores.items():
        lay = layers[exp]
        k = lay.pinned if lay.pinned is not None else best_layer(best_layers, *lay.row, column=lay.column)
        df = pd.read_csv(path)
        missing = {"fold", "layer", "ua", "wa", "macro_f1"} - set(df.columns)
        if missing:
            raise InputError(path, f"missing columns {sorted(missing)}: expected the layer-wise probe's scores", line=1)
        hit = df[(df["layer"] == k) & df["fold"].isin(list(folds))]
        if hit["fold"].nunique() != len(set(folds)):
            raise InputError(path, f"no scores at layer {k} for folds {sorted(set(folds) - set(hit['fold']))}")
        ft = metrics[(metrics["model"] == exp[0]) & (metrics["train"] == exp[1]) & (metrics["test"] == exp[2])]
        if ft.empty:
            raise InputError(path, f"no fine-tuning metrics of {exp}: the probe row needs the experiment's setting")
        first = ft.iloc[0]
        for r in hit.itertuples():
            out.append(
                {
                    "model": exp[0],
                    "setting": first["setting"],
                    "train": exp[1],
                    "test": exp[2],
                    "strategy": "probe",
                    "fold": int(r.fold),
                    "ua": float(r.ua),
                    "wa": float(r.wa),
                    "macro_f1": float(r.macro_f1),
                    "layer": k,
                    "layer_source": lay.source,
                    "train_lang": first["train_lang"],
                    "test_lang": first["test_lang"],
                    "epochs": None,
                }
            )
    return pd.DataFrame(out)


def summarise(metrics: pd.DataFrame, study: pd.DataFrame, no_peft: str = "frozen") -> pd.DataFrame:
    """Per (model, setting, train, test, strategy): UA/WA/F1 means, UA std, folds, the study's UA
    (its "no PEFT" value beside the `no_peft` rows: `frozen` or `probe`)."""
    keys = ["model", "setting", "train", "test", "strategy"]
    for col in ("layer_source", "trainable_params"):
        if col not in metrics:
            metrics = metrics.assign(**{col: None})
    metrics = metrics.assign(trainable_params=pd.to_numeric(metrics["trainable_params"], errors="coerce"))
    g = metrics.groupby(keys, sort=False, dropna=False)
    out = g.agg(
        source=("train_lang", "first"),
        target=("test_lang", "first"),
        layer=("layer", "first"),
        layer_source=("layer_source", "first"),
        ua_mean=("ua", "mean"),
        ua_std=("ua", "std"),
        wa_mean=("wa", "mean"),
        macro_f1_mean=("macro_f1", "mean"),
        n_folds=("fold", "nunique"),
        trainable_params=("trainable_params", "max"),
    ).reset_index()
    st = study.melt(id_vars=["model", "setting", "source", "target"], var_name="strategy", value_name="study_ua")
    st["study_ua"] = pd.to_numeric(st["study_ua"], errors="coerce") / 100.0
    st["strategy"] = st["strategy"].replace({"frozen": no_peft})
    out = out.merge(st.dropna(subset=["study_ua"]), on=["model", "setting", "source", "target", "strategy"], how="left")
    out["_s"] = out["setting"].map(SETTING_ORDER).fillna(9)
    out["_t"] = out["strategy"].map({s: i for i, s in enumerate(STRATEGY_ORDER)}).fillna(9)
    return out.sort_values(["_s", "model", "train", "test", "_t"]).drop(columns=["_s", "_t"]).reset_index(drop=True)


def _fmt(mean: float, std: float, n: int) -> str:
    if np.isnan(mean):
        return ""
    return f"{100 * mean:.1f}" if n < 2 or np.isnan(std) else f"{100 * mean:.1f} ± {100 * std:.1f}"


def _layer_cell(grp: pd.DataFrame) -> str:
    """`4 (pinned)`, or per strategy where the row's strategies ran at different layers."""
    parts: dict[str, list[str]] = {}
    for r in grp.itertuples():
        if pd.isna(r.layer):
            continue
        src = r.layer_source if isinstance(r.layer_source, str) else ""
        parts.setdefault(f"{int(r.layer)} ({src})" if src else str(int(r.layer)), []).append(str(r.strategy))
    if len(parts) <= 1:
        return next(iter(parts), "")
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in parts.items())


def layout(summary: pd.DataFrame) -> pd.DataFrame:
    """The study's layout: one row per experiment, one column per strategy (+ the study's value,
    + its trainable parameters: what the strategy trained, so that a reader sees each strategy
    adapted something; the probe column has none recorded)."""
    strategies = [s for s in STRATEGY_ORDER if s in set(summary["strategy"])]
    strategies += sorted(set(summary["strategy"]) - set(strategies))
    rows = []
    for (model, setting, train, test), grp in summary.groupby(["model", "setting", "train", "test"], sort=False):
        first = grp.iloc[0]
        langs = f"{first['source']} → {first['target']}" if first["source"] else ""
        row = {
            "Model": model,
            "Setting": setting,
            "Source → target": f"{langs} ({train} → {test})".strip(),
            "Layer": _layer_cell(grp),
        }
        for s in strategies:
            hit = grp[grp["strategy"] == s]
            row[s] = _fmt(*hit[["ua_mean", "ua_std", "n_folds"]].iloc[0]) if len(hit) else "–"
            if summary.loc[summary["strategy"] == s, "study_ua"].notna().any():
                v = hit["study_ua"].iloc[0] if len(hit) else np.nan
                row[f"{s} (study)"] = "" if pd.isna(v) else f"{100 * v:.1f}"
            if summary.loc[summary["strategy"] == s, "trainable_params"].notna().any():
                v = hit["trainable_params"].iloc[0] if len(hit) else np.nan
                row[f"{s} params"] = "" if pd.isna(v) else f"{int(v):,}"
        rows.append(row)
    return pd.DataFrame(rows)


def table1(
    metric_paths: Sequence[str | Path],
    out_stem: str | Path,
    study_path: str | Path | Traversable | None = None,
    *,
    no_peft: str = "frozen",
    probe_scores: Mapping[tuple[str, str, str], str | Path] | None = None,
    probe_layers: Mapping[tuple[str, str, str], Layer] | None = None,
    best_layers: str | Path | None = None,
    folds: Sequence[int] = (),
) -> pd.DataFrame:
    """Write `<stem>.{csv,md,tex}`: raw numbers in the CSV, the formatted layout in md/tex.

    `no_peft: probe` adds the probe rows (`probe_rows`: `probe_scores` and `probe_layers` per
    experiment, `best_layers` for chosen layers, the fine-tuned `folds`). The study's numbers
    come with the package (`xlser/data/study_table1.csv`), so they are no rule input whose
    path changes when the workflow folder moves."""
    study_path = study_path or files("xlser") / "data" / "study_table1.csv"
    if not metric_paths:
        raise InputError(None, "no metrics.json given: the peft section configures no strategies/experiments")
    study = pd.read_csv(study_path, dtype={"source": str, "target": str})
    need = {"model", "setting", "source", "target"}
    if not need <= set(study.columns):
        raise InputError(study_path, f"expected columns {sorted(need)} + one per strategy", line=1)
    if no_peft not in NO_PEFT:
        raise ValueError(f"no_peft = {no_peft!r}: expected one of {list(NO_PEFT)}")
    metrics = read_metrics(metric_paths)
    if no_peft == "probe":
        if not probe_scores or probe_layers is None:
            raise ValueError("no_peft = 'probe' needs the layer-wise probe scores and layers of every experiment")
        metrics = pd.concat(
            [metrics, probe_rows(probe_scores, probe_layers, best_layers, folds, metrics)], ignore_index=True
        )
    summary = summarise(metrics, study, no_peft)
    caption = (
        "Table I: test UA (%) per PEFT strategy, mean ± std over folds; (study) = the study's value "
        "for the same model, setting and languages; no PEFT = "
        + (
            "the layer-wise probe at the fine-tuning layer (probe)"
            if no_peft == "probe"
            else "the frozen-encoder fine-tune (frozen)"
        )
        + "; params = the trainable parameters of the strategy's model (head included)"
        "; Layer: pinned in the config, chosen by validation UA, or chosen>=1 (the best layer >= 1, where "
        "the best keeps no transformer layer for the strategies that adapt them)"
    )
    write_table(layout(summary), out_stem, caption=caption, label="tab:table1-peft", csv_df=summary)
    return summary
