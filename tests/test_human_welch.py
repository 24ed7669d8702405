"""Per-listener precision/recall/F1 by hand; Welch statistics against scipy and the written-out formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from xlser.human.welch import hedges_g, listener_prf, welch, welch_df, welch_tests, write_welch

EMO = ["angry", "happy", "neutral", "sad"]
CORPORA = {"X-CN": {"lang": "CN"}, "X-DE": {"lang": "DE"}}


def _rows(listener, group, corpus, pairs):
    return [{"listener": listener, "group": group, "corpus": corpus, "utt_id": f"{corpus}{i}", "true": t,
             "pred": p, "seg_start": np.nan, "seg_end": np.nan, "simulated": False}
            for i, (t, p) in enumerate(pairs)]


def test_listener_prf_by_hand():
    pairs = [("angry", "angry"), ("angry", "happy"), ("happy", "happy"), ("happy", "happy"),
             ("neutral", "happy"), ("sad", "sad")]
    prf = listener_prf(pd.DataFrame(_rows("L1", "CN", "X-CN", pairs)), CORPORA, EMO).set_index("emotion")
    # happy: predicted 4 times, 2 right -> P = .5; true 2, both found -> R = 1; F1 = 2*.5*1/1.5 = 2/3
    assert prf.at["happy", "precision"] == pytest.approx(0.5)
    assert prf.at["happy", "recall"] == pytest.approx(1.0)
    assert prf.at["happy", "f1"] == pytest.approx(2 / 3)
    # angry: P = 1/1, R = 1/2, F1 = 2/3; neutral never predicted: P = 0 (undefined -> 0), R = 0
    assert (prf.at["angry", "precision"], prf.at["angry", "recall"]) == (1.0, 0.5)
    assert prf.at["angry", "f1"] == pytest.approx(2 / 3)
    assert (prf.at["neutral", "precision"], prf.at["neutral", "recall"], prf.at["neutral", "f1"]) == (0, 0, 0)
    assert prf["support"].tolist() == [2, 2, 1, 1]


def test_welch_against_scipy_and_formula():
    a = np.array([0.9, 0.8, 0.85, 0.95, 0.7, 0.88])
    b = np.array([0.4, 0.6, 0.3, 0.55, 0.7, 0.2, 0.5])
    res = welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert res["t"] == pytest.approx(ref.statistic) and res["p"] == pytest.approx(ref.pvalue)
    s1, s2 = a.var(ddof=1), b.var(ddof=1)
    n1, n2 = len(a), len(b)
    df = (s1 / n1 + s2 / n2) ** 2 / ((s1 / n1) ** 2 / (n1 - 1) + (s2 / n2) ** 2 / (n2 - 1))
    assert res["df"] == pytest.approx(df) and welch_df(a, b) == pytest.approx(df)
    assert res["df"] == pytest.approx(ref.df)
    sp = np.sqrt(((n1 - 1) * s1 + (n2 - 1) * s2) / (n1 + n2 - 2))
    assert hedges_g(a, b) == pytest.approx((a.mean() - b.mean()) / sp * (1 - 3 / (4 * (n1 + n2) - 9)))
    assert (res["mean_a"], res["n_a"], res["n_b"]) == (pytest.approx(a.mean()), 6, 7)
    # equal variances and sizes: df = 2n - 2 (the study's df 10 for 6 vs 6 listeners)
    assert welch_df(np.array([1., 2, 3, 4, 5, 6]), np.array([2., 3, 4, 5, 6, 7])) == pytest.approx(10)
    # both constant: no test (NaN), not a crash
    assert np.isnan(welch([1, 1, 1], [0, 0, 0])["p"])


def test_families_and_holm():
    rng = np.random.default_rng(0)
    rows = []
    for g, acc in (("CN", 0.5), ("DE", 0.9)):
        for i in range(6):
            for corpus in CORPORA:
                pairs = [(t, t if rng.random() < acc else EMO[(EMO.index(t) + 1) % 4]) for t in EMO * 5]
                rows += _rows(f"{g}{i}", g, corpus, pairs)
    prf = listener_prf(pd.DataFrame(rows), CORPORA, EMO)
    tests = welch_tests(prf, EMO)
    assert set(tests["family"]) == {"groups/X-CN", "groups/X-DE", "corpora/CN", "corpora/DE"}
    assert (tests.groupby("family").size() == 12).all()  # 4 emotions x 3 metrics
    fam = tests[tests["family"] == "groups/X-CN"]
    expect = multipletests(fam["p"].to_numpy(), method="holm")[1]
    np.testing.assert_allclose(fam["p_holm"].to_numpy(), expect)
    row = fam[(fam["emotion"] == "happy") & (fam["metric"] == "recall")].iloc[0]
    sel = prf[(prf["corpus"] == "X-CN") & (prf["emotion"] == "happy")]
    ref = stats.ttest_ind(sel[sel["group"] == "CN"]["recall"], sel[sel["group"] == "DE"]["recall"], equal_var=False)
    assert row["t"] == pytest.approx(ref.statistic) and row["p"] == pytest.approx(ref.pvalue)
    assert row["t"] < 0  # CN listeners (50 % right) recall less than DE listeners (90 %)


def test_write_welch(tmp_path: Path):
    rng = np.random.default_rng(1)
    rows = []
    for g, acc in (("CN", 0.3), ("DE", 0.95)):
        for i in range(6):
            pairs = [(t, t if rng.random() < acc else "neutral" if t != "neutral" else "sad") for t in EMO * 6]
            rows += _rows(f"{g}{i}", g, "X-CN", pairs)
    p = tmp_path / "responses.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    tests = write_welch(p, CORPORA, EMO, tmp_path / "w.csv", tmp_path / "w.md")
    md = (tmp_path / "w.md").read_text()
    n_sig = int((tests["p_holm"] < 0.05).sum())
    assert n_sig > 0 and f"{n_sig} of" in md and "paired" in md
    assert len(pd.read_csv(tmp_path / "w.csv")) == len(tests) == 12
