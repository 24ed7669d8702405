"""Per-listener precision/recall/F1 by hand; Welch statistics against scipy and the written-out formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from xlser.human.welch import (
    hedges_g,
    listener_prf,
    pooled_corpora,
    pooled_prf,
    welch,
    welch_df,
    welch_tests,
    write_welch,
)

EMO = ["angry", "happy", "neutral", "sad"]
CORPORA = {"X-CN": {"lang": "CN"}, "X-DE": {"lang": "DE"}}


def _rows(listener, group, corpus, pairs):
    return [
        {
            "listener": listener,
            "group": group,
            "corpus": corpus,
            "utt_id": f"{corpus}{i}",
            "true": t,
            "pred": p,
            "seg_start": np.nan,
            "seg_end": np.nan,
            "simulated": False,
        }
        for i, (t, p) in enumerate(pairs)
    ]


def test_listener_prf_by_hand():
    pairs = [
        ("angry", "angry"),
        ("angry", "happy"),
        ("happy", "happy"),
        ("happy", "happy"),
        ("neutral", "happy"),
        ("sad", "sad"),
    ]
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
    assert welch_df(np.array([1.0, 2, 3, 4, 5, 6]), np.array([2.0, 3, 4, 5, 6, 7])) == pytest.approx(10)
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


def test_student_beside_welch_against_scipy():
    a = np.array([0.9, 0.8, 0.85, 0.95, 0.7, 0.88])
    b = np.array([0.4, 0.6, 0.3, 0.55, 0.7, 0.2, 0.5, 0.45])  # unequal n and variances: the two tests differ
    res = welch(a, b)
    w, s = stats.ttest_ind(a, b, equal_var=False), stats.ttest_ind(a, b, equal_var=True)
    assert res["t_student"] == pytest.approx(s.statistic) and res["p_student"] == pytest.approx(s.pvalue)
    assert res["df_student"] == len(a) + len(b) - 2 == pytest.approx(s.df)
    assert res["t"] == pytest.approx(w.statistic) and res["df"] == pytest.approx(w.df)
    assert res["p"] != pytest.approx(res["p_student"])
    # pooled variance by hand
    sp2 = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    assert res["t_student"] == pytest.approx((a.mean() - b.mean()) / np.sqrt(sp2 * (1 / len(a) + 1 / len(b))))


CORPORA3 = {"X-CN": {"lang": "CN"}, "X-DE": {"lang": "DE"}, "X-EN": {"lang": "EN"}}


def _sad_rows(listener, group, corpus, n_sad, n_right, offset=0):
    """n_sad true-sad utterances (n_right answered sad, the rest neutral) + one of each other emotion."""
    pairs = [("sad", "sad" if i < n_right else "neutral") for i in range(n_sad)]
    pairs += [(e, e) for e in ("angry", "happy", "neutral")]
    return _rows(listener, group, corpus, pairs)


def test_pooled_recall_by_hand():
    # one listener: sad recall 1/2 on X-CN, 4/4 on X-DE, 0/2 on X-EN -> pooled 5/8 (mean of corpora: 0.5)
    rows = (
        _sad_rows("L1", "CN", "X-CN", 2, 1) + _sad_rows("L1", "CN", "X-DE", 4, 4) + _sad_rows("L1", "CN", "X-EN", 2, 0)
    )
    resp = pd.DataFrame(rows)
    chosen = pooled_corpora(CORPORA3, ["CN", "DE", "EN"])
    assert chosen == ["X-CN", "X-DE", "X-EN"]
    pooled = pooled_prf(resp, CORPORA3, EMO, chosen).set_index("emotion")
    assert pooled.at["sad", "recall"] == pytest.approx(5 / 8)
    assert pooled.at["sad", "support"] == 8
    # neutral: predicted 3 (own, right) + 1 + 0 + 2 (wrong sad answers) = 6 times, 3 right -> precision .5
    assert pooled.at["neutral", "precision"] == pytest.approx(3 / 6)
    assert pooled.loc["sad", "corpus"] == "X-CN+X-DE+X-EN" and pooled.loc["sad", "lang"] == "CN+DE+EN"
    assert pooled_corpora({"X-CN": {"lang": "CN"}, "X-DE": {"lang": "DE"}}, ["CN", "DE", "EN"]) is None


def _study_responses():
    """6 CN and 6 DE listeners on three corpora; known sad recalls per listener."""
    rows = []
    # per listener: (right on X-CN of 4, right on X-DE of 4, right on X-EN of 4)
    cn = [(3, 4, 2), (4, 3, 3), (2, 3, 2), (3, 3, 3), (4, 4, 1), (3, 2, 2)]
    de = [(4, 4, 3), (4, 4, 4), (3, 4, 4), (4, 3, 4), (4, 4, 2), (4, 4, 4)]
    for g, table in (("CN", cn), ("DE", de)):
        for i, counts in enumerate(table):
            for corpus, k in zip(CORPORA3, counts):
                rows += _sad_rows(f"{g}{i}", g, corpus, 4, k)
    return pd.DataFrame(rows), cn, de


def test_study_tests_rows(tmp_path: Path):
    resp, cn, de = _study_responses()
    p = tmp_path / "responses.csv"
    resp.to_csv(p, index=False)
    tests = write_welch(p, CORPORA3, EMO, tmp_path / "w.csv", tmp_path / "w.md")
    csv = pd.read_csv(tmp_path / "w.csv")
    assert {"study_test", "t_study", "p_study", "df_student", "p_student", "p", "p_holm"} <= set(csv.columns)
    # the four study tests come first, once each (one corpus per language here)
    assert csv["study_test"].head(4).tolist() == [1, 2, 3, 4] and csv["study_test"].notna().sum() == 4
    # test 4: CN vs DE listeners, sad recall over the pooled answers (12 sad utterances each)
    t4 = tests[tests["study_test"] == 4].iloc[0]
    a = np.array([sum(c) / 12 for c in cn])
    b = np.array([sum(c) / 12 for c in de])
    s, w = stats.ttest_ind(a, b, equal_var=True), stats.ttest_ind(a, b, equal_var=False)
    assert (t4["a"], t4["b"], t4["corpus_a"]) == ("CN", "DE", "X-CN+X-DE+X-EN")
    assert t4["t_student"] == pytest.approx(s.statistic) and t4["p_student"] == pytest.approx(s.pvalue)
    assert t4["df_student"] == 10 and t4["t"] == pytest.approx(w.statistic) and t4["p"] == pytest.approx(w.pvalue)
    assert t4["t_study"] == -2.708 and t4["p_study"] == "0.022" and t4["t"] < 0
    assert t4["family"] == "pooled/X-CN+X-DE+X-EN"
    fam = tests[tests["family"] == t4["family"]]
    assert len(fam) == 12  # the pooled family: every emotion x metric, Holm within it
    np.testing.assert_allclose(fam["p_holm"].dropna(), multipletests(fam["p"].dropna(), method="holm")[1])
    # test 3 is oriented as the study's: CN listeners, DE data minus CN data (one row, not two)
    t3 = tests[tests["study_test"] == 3].iloc[0]
    assert (t3["corpus_a"], t3["corpus_b"], t3["a"], t3["b"]) == ("X-DE", "X-CN", "CN", "CN")
    same = tests[
        (tests["family"] == "corpora/CN")
        & (tests["emotion"] == "happy")
        & (tests["metric"] == "recall")
        & (tests["corpus_a"].isin(["X-CN", "X-DE"]))
        & (tests["corpus_b"].isin(["X-CN", "X-DE"]))
    ]
    assert len(same) == 1
    prf = listener_prf(resp, CORPORA3, EMO)
    sad_cn = prf[(prf["emotion"] == "sad") & (prf["corpus"] == "X-DE")]
    t1_like = tests[(tests["family"] == "groups/X-DE") & (tests["emotion"] == "sad") & (tests["metric"] == "recall")]
    ref = stats.ttest_ind(
        sad_cn[sad_cn["group"] == "CN"]["recall"], sad_cn[sad_cn["group"] == "DE"]["recall"], equal_var=False
    )
    assert t1_like["t"].iloc[0] == pytest.approx(ref.statistic)
    t1 = tests[tests["study_test"] == 1].iloc[0]
    assert (t1["family"], t1["emotion"], t1["metric"], t1["a"], t1["b"]) == (
        "groups/X-DE",
        "happy",
        "recall",
        "CN",
        "DE",
    )
    md = (tmp_path / "w.md").read_text()
    first = md.index("## The study's four tests")
    assert first < md.index("## The other tests") and "-2.708" in md and "t(10) = " in md
