"""The report's t-test section, from `results/stats/welch_tests.csv`: the study's four tests as
a short table with the study's t and p beside ours, then every test family folded away.

Why from the CSV and not the stage's Markdown summary: the summary lists only the tests with
p < 0.05; a reader who opens a family wants all of its tests, with the Holm-corrected p that
belongs to that family.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from xlser.errors import InputError
from xlser.report.html import rows_table

NEEDED = ("family", "study_test", "emotion", "metric", "a", "corpus_a", "b", "corpus_b", "mean_a", "mean_b")
NEEDED += ("t", "df", "p", "p_holm", "t_student", "df_student", "p_student", "hedges_g", "t_study", "p_study")
ALPHA = 0.05


def p_text(v: float) -> str:
    return "" if pd.isna(v) else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def _num(v: float, fmt: str) -> str:
    return "" if pd.isna(v) else format(v, fmt)


def comparison(r: Mapping) -> str:
    """'CN vs DE listeners on DEMO-DE' or 'CN listeners: DEMO-DE vs DEMO-CN'."""
    if r["a"] == r["b"]:
        return f"{r['a']} listeners: {r['corpus_a']} vs {r['corpus_b']}"
    return f"{r['a']} vs {r['b']} listeners on {r['corpus_a']}"


def read_tests(path: str | Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    missing = [c for c in NEEDED if c not in df.columns]
    if missing:
        raise InputError(path, f"missing columns {missing}: expected welch_tests.csv", line=1)
    return df


def study_table(tests: pd.DataFrame) -> str:
    """The study's four tests: what the study tested, our comparison, means, Welch's and
    Student's t, df and p, and the study's t and p beside them."""
    from xlser.human.welch import study_tests

    header = ["test", "the study's test", "ours: comparison", "means (a vs b)", "t (Welch)", "df (Welch)"]
    header += ["p (Welch)", "t(df) (Student)", "p (Student)", "p Holm", "study t", "study p"]
    rows = []
    for s in study_tests().itertuples():
        hits = tests[tests["study_test"] == s.study_test].to_dict("records")
        study = [f"{s.t:.3f}", str(s.p)]
        if not hits:
            rows.append([str(s.study_test), s.description, "(no data)", *[""] * 7, *study])
        for r in hits:
            student = "" if pd.isna(r["t_student"]) else f"t({r['df_student']:.0f}) = {r['t_student']:.3f}"
            rows.append(
                [str(s.study_test), s.description, comparison(r), f"{r['mean_a']:.2f} vs {r['mean_b']:.2f}"]
                + [_num(r["t"], ".3f"), _num(r["df"], ".1f"), p_text(r["p"]), student, p_text(r["p_student"])]
                + [p_text(r["p_holm"]), *study]
            )
    return rows_table(header, rows, "The study's four t-tests: ours beside the study's (two-sided)")


def family_tables(tests: pd.DataFrame) -> str:
    """One folded block per family (Holm's correction runs within a family): every test in it."""
    out = []
    header = ["comparison", "emotion", "metric", "means (a vs b)", "t (Welch)", "df", "p", "p Holm", "Hedges' g"]
    for family, g in tests.groupby("family", sort=False):
        rows = [
            [comparison(r), r["emotion"], r["metric"], f"{r['mean_a']:.2f} vs {r['mean_b']:.2f}"]
            + [_num(r["t"], ".3f"), _num(r["df"], ".1f"), p_text(r["p"]), p_text(r["p_holm"])]
            + [_num(r["hedges_g"], ".2f")]
            for r in g.to_dict("records")
        ]
        n_sig = int((g["p_holm"] < ALPHA).sum())
        summary = f"{family}: {len(g)} tests, {n_sig} significant at Holm p < {ALPHA}"
        out.append(f"<details><summary>{html.escape(summary)}</summary>{rows_table(header, rows)}</details>")
    return "\n".join(out)


def ttests_html(path: str | Path) -> str:
    """The section body: the study's four, a count, then every family folded."""
    tests = read_tests(path)
    n_sig, n = int((tests["p_holm"] < ALPHA).sum()), int(tests["p"].notna().sum())
    return "\n".join(
        [
            study_table(tests),
            f"<p>Every test, by family ({n_sig} of {n} significant at Holm p &lt; {ALPHA}; Welch's t and df, "
            "uncorrected p, Holm-corrected p within the family, Hedges' g; Student's t in the CSV):</p>",
            family_tables(tests),
        ]
    )
