"""Table I: test UA of each PEFT strategy per experiment, mean ± std over folds, beside the study's.

The study's numbers (`src/xlser/data/study_table1.csv`, in %, languages as codes) are matched
by model name, setting and the source/target languages, so a configured experiment on other
corpora of the same languages is still compared with the study's value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np

import pandas as pd

from xlser.errors import InputError
from xlser.report.tables import write_table

STRATEGY_ORDER = ["frozen", "lora", "lora+ba+wg", "two_stage"]
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
        rows.append({k: m.get(k) for k in (*NEEDED, "layer", "train_lang", "test_lang", "epochs")})
    return pd.DataFrame(rows)


def summarise(metrics: pd.DataFrame, study: pd.DataFrame) -> pd.DataFrame:
    """Per (model, setting, train, test, strategy): UA/WA/F1 means, UA std, folds, the study's UA."""
    keys = ["model", "setting", "train", "test", "strategy"]
    g = metrics.groupby(keys, sort=False)
    out = g.agg(source=("train_lang", "first"), target=("test_lang", "first"), layer=("layer", "first"),
                ua_mean=("ua", "mean"), ua_std=("ua", "std"), wa_mean=("wa", "mean"),
                macro_f1_mean=("macro_f1", "mean"), n_folds=("fold", "nunique")).reset_index()
    st = study.melt(id_vars=["model", "setting", "source", "target"], var_name="strategy", value_name="study_ua")
    st["study_ua"] = pd.to_numeric(st["study_ua"], errors="coerce") / 100.0
    out = out.merge(st.dropna(subset=["study_ua"]), on=["model", "setting", "source", "target", "strategy"],
                    how="left")
    out["_s"] = out["setting"].map(SETTING_ORDER).fillna(9)
    out["_t"] = out["strategy"].map({s: i for i, s in enumerate(STRATEGY_ORDER)}).fillna(9)
    return out.sort_values(["_s", "model", "train", "test", "_t"]).drop(columns=["_s", "_t"]).reset_index(drop=True)


def _fmt(mean: float, std: float, n: int) -> str:
    if np.isnan(mean):
        return ""
    return f"{100 * mean:.1f}" if n < 2 or np.isnan(std) else f"{100 * mean:.1f} ± {100 * std:.1f}"


def layout(summary: pd.DataFrame) -> pd.DataFrame:
    """The study's layout: one row per experiment, one column per strategy (+ the study's value)."""
    strategies = [s for s in STRATEGY_ORDER if s in set(summary["strategy"])]
    strategies += sorted(set(summary["strategy"]) - set(strategies))
    rows = []
    for (model, setting, train, test), grp in summary.groupby(["model", "setting", "train", "test"], sort=False):
        first = grp.iloc[0]
        langs = f"{first['source']} → {first['target']}" if first["source"] else ""
        row = {"Model": model, "Setting": setting, "Source → target": f"{langs} ({train} → {test})".strip(),
               "Layer": "" if pd.isna(first["layer"]) else int(first["layer"])}
        for s in strategies:
            hit = grp[grp["strategy"] == s]
            row[s] = _fmt(*hit[["ua_mean", "ua_std", "n_folds"]].iloc[0]) if len(hit) else "–"
            if summary.loc[summary["strategy"] == s, "study_ua"].notna().any():
                v = hit["study_ua"].iloc[0] if len(hit) else np.nan
                row[f"{s} (study)"] = "" if pd.isna(v) else f"{100 * v:.1f}"
        rows.append(row)
    return pd.DataFrame(rows)


def table1(metric_paths: Sequence[str | Path], out_stem: str | Path,
           study_path: str | Path | Traversable | None = None) -> pd.DataFrame:
    """Write `<stem>.{csv,md,tex}`: raw numbers in the CSV, the formatted layout in md/tex.

    The study's numbers come with the package (`xlser/data/study_table1.csv`), so they are
    no rule input whose path changes when the workflow folder moves."""
    study_path = study_path or files("xlser") / "data" / "study_table1.csv"
    if not metric_paths:
        raise InputError(None, "no metrics.json given: the peft section configures no strategies/experiments")
    study = pd.read_csv(study_path, dtype={"source": str, "target": str})
    need = {"model", "setting", "source", "target"}
    if not need <= set(study.columns):
        raise InputError(study_path, f"expected columns {sorted(need)} + one per strategy", line=1)
    summary = summarise(read_metrics(metric_paths), study)
    caption = ("Table I: test UA (%) per PEFT strategy, mean ± std over folds; (study) = the study's value "
               "for the same model, setting and languages")
    write_table(layout(summary), out_stem, caption=caption, label="tab:table1-peft", csv_df=summary)
    return summary
