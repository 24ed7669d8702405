"""Per-listener precision/recall/F1 per emotion and the study's two-sided Welch's t-tests.

Families (Holm-corrected within each): `groups/<corpus>` — the two listener groups on the
same corpus, every emotion x metric; `corpora/<group>` — one group across every pair of
corpora, every emotion x metric. The across-corpora comparisons use the same listeners
(paired in reality); the study used Welch's unpaired test there too and so do we, to be
comparable — a paired test would be the stricter choice.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import precision_recall_fscore_support
from statsmodels.stats.multitest import multipletests

from ..contracts import read_table
from ..io import write_csv, write_text
from ..tables import to_markdown
from .tables import _lang_key, utterance_answers

METRICS = ("precision", "recall", "f1")


def listener_prf(responses: pd.DataFrame, corpora: Mapping[str, Mapping], emotions: Sequence[str]) -> pd.DataFrame:
    """One row per (listener, corpus, emotion): precision, recall, F1 (0 where undefined)."""
    df = utterance_answers(responses, corpora)
    rows = []
    for (lis, grp, corpus), g in df.groupby(["listener", "group", "corpus"], sort=True):
        p, r, f, s = precision_recall_fscore_support(g["true"], g["pred"], labels=list(emotions), zero_division=0)
        for i, e in enumerate(emotions):
            rows.append({"listener": lis, "group": grp, "corpus": corpus, "lang": corpora[corpus]["lang"],
                         "emotion": e, "precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])})
    return pd.DataFrame(rows)


def welch_df(a: np.ndarray, b: np.ndarray) -> float:
    """Welch–Satterthwaite degrees of freedom."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    den = va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)
    return float((va + vb) ** 2 / den) if den > 0 else float("nan")


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference (pooled SD) with the small-sample correction J."""
    na, nb = len(a), len(b)
    sp = np.sqrt(((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2))
    if sp == 0:
        return float("nan")
    return float((np.mean(a) - np.mean(b)) / sp * (1 - 3 / (4 * (na + nb) - 9)))


def welch(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Two-sided Welch's t-test: t, df, p, Hedges' g, means and n (NaN when both are constant)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    out = {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "n_a": len(a), "n_b": len(b)}
    if len(a) < 2 or len(b) < 2 or (np.var(a) == 0 and np.var(b) == 0):
        return {**out, "t": float("nan"), "df": float("nan"), "p": float("nan"), "hedges_g": float("nan")}
    with warnings.catch_warnings():  # one constant group (e.g. every DE listener at recall 1.0) is fine here
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        res = stats.ttest_ind(a, b, equal_var=False)
    return {**out, "t": float(res.statistic), "df": welch_df(a, b), "p": float(res.pvalue), "hedges_g": hedges_g(a, b)}


def welch_tests(prf: pd.DataFrame, emotions: Sequence[str]) -> pd.DataFrame:
    """Both families of tests, with Holm-corrected p within each family."""
    rows = []
    groups = sorted(prf["group"].unique(), key=_lang_key)
    corpora = sorted(prf["corpus"].unique(), key=lambda c: (_lang_key(prf.loc[prf["corpus"] == c, "lang"].iloc[0]), c))
    for corpus in corpora:
        for ga, gb in itertools.combinations(groups, 2):
            sel = prf[prf["corpus"] == corpus]
            for e in emotions:
                for m in METRICS:
                    a = sel[(sel["group"] == ga) & (sel["emotion"] == e)][m]
                    b = sel[(sel["group"] == gb) & (sel["emotion"] == e)][m]
                    if len(a) and len(b):
                        rows.append({"family": f"groups/{corpus}", "emotion": e, "metric": m, "a": ga, "b": gb,
                                     "corpus_a": corpus, "corpus_b": corpus, **welch(a, b)})
    for grp in groups:
        sel = prf[prf["group"] == grp]
        for ca, cb in itertools.combinations(corpora, 2):
            for e in emotions:
                for m in METRICS:
                    a = sel[(sel["corpus"] == ca) & (sel["emotion"] == e)][m]
                    b = sel[(sel["corpus"] == cb) & (sel["emotion"] == e)][m]
                    if len(a) and len(b):
                        rows.append({"family": f"corpora/{grp}", "emotion": e, "metric": m, "a": grp, "b": grp,
                                     "corpus_a": ca, "corpus_b": cb, **welch(a, b)})
    cols = ["family", "emotion", "metric", "a", "corpus_a", "b", "corpus_b", "n_a", "n_b", "mean_a", "mean_b",
            "t", "df", "p", "p_holm", "hedges_g"]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["p_holm"] = np.nan
    for _, idx in df.groupby("family").groups.items():
        p = df.loc[idx, "p"]
        ok = p.notna()
        if ok.any():
            df.loc[p[ok].index, "p_holm"] = multipletests(p[ok].to_numpy(), method="holm")[1]
    return df[cols]


def summary_markdown(tests: pd.DataFrame, simulated: bool, alpha: float = 0.05) -> str:
    """Short Markdown summary: the comparisons significant after Holm correction."""
    lines = ["# Welch's t-tests on per-listener precision, recall and F1", ""]
    if simulated:
        lines += ["**SIMULATED listeners (demo): these tests say nothing about humans.**", ""]
    lines += ["Two-sided Welch's t-tests (unequal variances; df by Welch–Satterthwaite), Holm-corrected "
              "within each family (`groups/<corpus>`: the two listener groups on one corpus; "
              "`corpora/<group>`: one group across pairs of corpora). Across-corpora tests compare the same "
              "listeners, i.e. paired data; like the study we use Welch's unpaired test there.", ""]
    sig = tests[tests["p_holm"] < alpha]
    lines.append(f"{len(sig)} of {tests['p'].notna().sum()} tests significant at Holm p < {alpha}.")
    lines.append("")
    if len(sig):
        view = sig.assign(
            comparison=[f"{r.a} on {r.corpus_a} vs {r.b} on {r.corpus_b}" for r in sig.itertuples()],
            t=sig["t"].map(lambda v: f"{v:.3f}"), df=sig["df"].map(lambda v: f"{v:.1f}"),
            p=sig["p"].map(lambda v: f"{v:.2g}"), p_holm=sig["p_holm"].map(lambda v: f"{v:.2g}"),
            g=sig["hedges_g"].map(lambda v: f"{v:.2f}"),
            means=[f"{r.mean_a:.2f} vs {r.mean_b:.2f}" for r in sig.itertuples()],
        )[["family", "comparison", "emotion", "metric", "means", "t", "df", "p", "p_holm", "g"]]
        lines.append(to_markdown(view.reset_index(drop=True)))
    return "\n".join(lines) + "\n"


def write_welch(responses_path: str | Path, corpora: Mapping[str, Mapping], emotions: Sequence[str],
                csv: str | Path, md: str | Path) -> pd.DataFrame:
    """Read responses; write the full test table (CSV) and the Markdown summary."""
    responses = read_table(responses_path, "responses")
    simulated = bool(responses["simulated"].fillna(False).any()) if "simulated" in responses else False
    tests = welch_tests(listener_prf(responses, corpora, emotions), emotions)
    write_csv(tests.assign(simulated=simulated), csv)
    write_text(summary_markdown(tests, simulated), md)
    return tests
