"""Publishable tables: every table is written as CSV, Markdown and LaTeX (booktabs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from xlser.io import write_csv, write_text


def mean_std(values: pd.Series | np.ndarray, scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± std' of a sample, scaled (UA in % by default); std is the sample std (ddof=1)."""
    arr = np.asarray(values, dtype=float) * scale
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return ""
    if arr.size == 1:
        return f"{arr[0]:.{digits}f}"
    return f"{arr.mean():.{digits}f} ± {arr.std(ddof=1):.{digits}f}"


def to_markdown(df: pd.DataFrame, caption: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (no external dependency)."""
    cols = [str(c) for c in df.columns]
    rows = [["" if pd.isna(v) else str(v) for v in row] for row in df.itertuples(index=False)]
    out = []
    if caption:
        out += [f"**{caption}**", ""]
    out.append("| " + " | ".join(cols) + " |")
    out.append("|" + "|".join("---" for _ in cols) + "|")
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


_LATEX_ESCAPES = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "→": r"$\rightarrow$",
    "->": r"$\rightarrow$",
}


def latex_escape(text: str) -> str:
    out = str(text)
    out = out.replace("\\", r"\textbackslash{}")
    for k in ("&", "%", "$", "#", "_", "{", "}", "~", "^"):
        out = out.replace(k, _LATEX_ESCAPES[k])
    for k in ("±", "→", "->"):
        out = out.replace(k, _LATEX_ESCAPES[k])
    return out


def to_latex(df: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs table (\\toprule/\\midrule/\\bottomrule), text columns left, others centred."""
    align = "".join("c" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(rf"\begin{{tabular}}{{{align}}}")
    lines.append(r"\toprule")
    lines.append(" & ".join(latex_escape(str(c)) for c in df.columns) + r" \\")
    lines.append(r"\midrule")
    for row in df.itertuples(index=False):
        lines.append(" & ".join("" if pd.isna(v) else latex_escape(str(v)) for v in row) + r" \\")
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(
    df: pd.DataFrame,
    stem: str | Path,
    caption: str | None = None,
    label: str | None = None,
    csv_df: pd.DataFrame | None = None,
) -> list[Path]:
    """Write `<stem>.csv`, `<stem>.md` and `<stem>.tex`.

    `csv_df`, if given, is written to the CSV instead of `df` (e.g. raw numbers behind a
    formatted 'mean ± std' table).
    """
    stem = Path(stem)
    if stem.suffix in {".csv", ".md", ".tex"}:
        stem = stem.with_suffix("")
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    write_csv(df if csv_df is None else csv_df, paths[0])
    write_text(to_markdown(df, caption), paths[1])
    write_text(to_latex(df, caption, label), paths[2])
    return paths
