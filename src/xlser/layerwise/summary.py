"""Layer-wise summary: mean/std over folds, best layer per experiment (by validation UA,
never test UA) and the study's Figure 1 (UA against layer, one panel per model)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from xlser.io import atomic_path, write_csv

KEYS = ["model", "setting", "train", "test"]
SETTING_ORDER = {"mono": 0, "cross": 1, "trans": 2}


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over folds of every metric, per model/setting/train/test/layer."""
    metrics = [c for c in ("ua", "wa", "macro_f1", "val_ua", "val_loss", "epochs") if c in scores.columns]
    g = scores.groupby(KEYS + ["layer"], sort=False)[metrics]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=1).fillna(0.0).add_suffix("_std"))
    out["folds"] = g.size()
    out = out.reset_index()
    out["_s"] = out["setting"].map(SETTING_ORDER)
    return out.sort_values(["model", "_s", "train", "test", "layer"]).drop(columns="_s").reset_index(drop=True)


def best_layers(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment: the layer with the highest mean validation UA (ties: the lower
    layer) and the test UA there; and the same among layers >= 1 (`layer_ge1`, `val_ua_ge1`,
    `test_ua_ge1`; empty where the model has no layer above 0). Test UA never takes part in the
    choice.

    Why two: layer 0 is the CNN's output, where a fine-tune that keeps k layers keeps no
    transformer layer, so LoRA, adapters and gates would have nothing to adapt; the strategies
    that adapt take the best layer >= 1 (`peft.adapting_layer: adaptable`), `frozen` and the
    probe column the best of all."""
    rows = []
    for key, g in summary.groupby(KEYS, sort=False):
        g = g.sort_values("layer")
        b = g.loc[g["val_ua_mean"].idxmax()]
        above = g[g["layer"] >= 1]
        b1 = above.loc[above["val_ua_mean"].idxmax()] if len(above) else None
        rows.append(
            {
                **dict(zip(KEYS, key)),
                "layer": int(b["layer"]),
                "val_ua": b["val_ua_mean"],
                "test_ua": b["ua_mean"],
                "test_ua_std": b["ua_std"],
                "layer_ge1": pd.NA if b1 is None else int(b1["layer"]),
                "val_ua_ge1": float("nan") if b1 is None else b1["val_ua_mean"],
                "test_ua_ge1": float("nan") if b1 is None else b1["ua_mean"],
            }
        )
    return pd.DataFrame(rows).astype({"layer_ge1": "Int64"})


def _label(row: pd.Series, langs: dict[str, str] | None) -> str:
    tr, te = row["train"], row["test"]
    if langs:
        tr, te = langs.get(tr, tr), langs.get(te, te)
    return f"{row['setting']} {tr}→{te}"


def figure1(
    summary: pd.DataFrame, png: str | Path, pdf: str | Path, langs: dict[str, str] | None = None, metric: str = "ua"
) -> None:
    """One panel per model: UA (%) against layer, one line per experiment, fold std as a band."""
    models = list(dict.fromkeys(summary["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), sharey=True, squeeze=False)
    styles = {"mono": "-", "cross": "--", "trans": ":"}
    for ax, model in zip(axes[0], models):
        sub = summary[summary["model"] == model]
        for _, g in sub.groupby(["setting", "train", "test"], sort=False):
            g = g.sort_values("layer")
            m, s = 100 * g[f"{metric}_mean"], 100 * g[f"{metric}_std"]
            (line,) = ax.plot(
                g["layer"], m, styles.get(g["setting"].iloc[0], "-"), marker="o", ms=3, label=_label(g.iloc[0], langs)
            )
            ax.fill_between(g["layer"], m - s, m + s, color=line.get_color(), alpha=0.15, lw=0)
        ax.set_title(model)
        ax.set_xlabel("layer (0 = CNN/transformer input)")
        ax.set_xticks(sorted(sub["layer"].unique()))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    axes[0][0].set_ylabel("UA (%) on the test partition")
    fig.tight_layout()
    for path in (png, pdf):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def layerwise_summary(
    score_files: Sequence[str | Path],
    table: str | Path,
    best: str | Path,
    png: str | Path,
    pdf: str | Path,
    langs: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Read every probe_layers output and write the summary table, best layers and Figure 1."""
    from xlser.contracts import read_table

    scores = pd.concat([read_table(f, "layerwise") for f in score_files], ignore_index=True)
    summary = summarise(scores)
    write_csv(summary.round(6), table)
    write_csv(best_layers(summary).round(6), best)
    figure1(summary, png, pdf, langs)
    return summary
