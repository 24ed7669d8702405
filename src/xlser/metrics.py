"""Utterance-level metrics: UA (macro recall), WA (accuracy), macro-F1, confusion matrices.

Thin wrappers over scikit-learn that always use the full label set, so a class that is
never predicted still counts (UA over 4 emotions stays a 4-way mean).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score


def ua(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> float:
    """Unweighted accuracy: the mean of per-class recalls over the classes present in y_true."""
    present = [lab for lab in labels if lab in set(y_true)]
    return float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def wa(y_true: Sequence, y_pred: Sequence) -> float:
    """Weighted accuracy: plain accuracy."""
    return float(accuracy_score(y_true, y_pred))


def macro_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> float:
    """Macro-F1 over the classes present in y_true (zero for a class never predicted)."""
    present = [lab for lab in labels if lab in set(y_true)]
    return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def scores(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> dict[str, float]:
    """UA, WA and macro-F1 in one dict."""
    return {"ua": ua(y_true, y_pred, labels), "wa": wa(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred, labels)}


def confusion(y_true: Sequence, y_pred: Sequence, labels: Sequence, normalize: bool = True) -> pd.DataFrame:
    """Confusion matrix (rows true, columns predicted), row-normalised by default."""
    cm = confusion_matrix(y_true, y_pred, labels=list(labels)).astype(float)
    if normalize:
        sums = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0)
    return pd.DataFrame(cm, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="pred"))
