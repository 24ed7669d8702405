"""Per-listener precision/recall/F1 per emotion and the study's two-sided t-tests.

Families (Holm-corrected within each): `groups/<corpus>` — the two listener groups on the
same corpus, every emotion x metric; `corpora/<group>` — one group across every pair of
corpora, every emotion x metric; `pooled/<corpus>+<corpus>+...` — the two listener groups
on the answers pooled across the corpora of the study's fourth test (CN, DE and EN data).
The across-corpora comparisons use the same listeners (paired in reality); the study used
Welch's unpaired test there too and so do we, to be comparable — a paired test would be
the stricter choice.

Every row carries Welch's t, df (Welch–Satterthwaite) and p, and beside them Student's
pooled-variance t, df (n_a + n_b - 2) and p: the study printed t(10) for 6 + 6 listeners,
i.e. Student's df. The rows that reproduce the study's four reported tests
(`src/xlser/data/study_tests.csv`) carry `study_test` (1-4) and the study's t, oriented
as the study's (a - b), and come first.

Pooling (test 4): a listener's metric is computed once over all their utterance-level
answers on the pooled corpora (answers concatenated, then precision/recall/F1), not as
the mean of per-corpus values; with equal stimuli per emotion and corpus, recall is the
same either way, precision and F1 are not.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import precision_recall_fscore_support
from statsmodels.stats.multitest import multipletests

from xlser.contracts import read_table
from xlser.human.tables import _lang_key, utterance_answers
from xlser.io import write_csv, write_text
from xlser.report.tables import to_markdown
from xlser.spelling import Spelling

log = logging.getLogger(__name__)

METRICS = ("precision", "recall", "f1")
COLUMNS = [
    "family",
    "study_test",
    "emotion",
    "metric",
    "a",
    "corpus_a",
    "b",
    "corpus_b",
    "n_a",
    "n_b",
    "mean_a",
    "mean_b",
    "t",
    "df",
    "p",
    "p_holm",
    "t_student",
    "df_student",
    "p_student",
    "hedges_g",
    "t_study",
    "p_study",
]


def study_tests() -> pd.DataFrame:
    """The study's four reported tests as data (kind groups | corpora | pooled; languages as codes)."""
    return pd.read_csv(files("xlser") / "data" / "study_tests.csv", dtype={"p": str})


def spelled_study(study: pd.DataFrame, emotions: Sequence[str], langs: Sequence[str]) -> pd.DataFrame:
    """The study's tests in the config's spelling (`xlser.spelling`): its `happy` as `emotions`
    writes it, its `CN` as the corpora's `lang` does, so they match however the config spells them."""
    emo, lang = Spelling(emotions), Spelling(langs)

    def codes(v: object) -> str:
        return "+".join(lang(x) or x for x in str(v).split("+"))

    return study.assign(
        emotion=[emo(x) or x for x in study["emotion"]],
        **{c: [codes(v) for v in study[c]] for c in ("group_a", "lang_a", "group_b", "lang_b")},
    )


def _prf_rows(g: pd.DataFrame, emotions: Sequence[str], meta: dict) -> list[dict]:
    p, r, f, s = precision_recall_fscore_support(g["true"], g["pred"], labels=list(emotions), zero_division=0)
    return [
        {**meta, "emotion": e, "precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
        for i, e in enumerate(emotions)
    ]


def listener_prf(responses: pd.DataFrame, corpora: Mapping[str, Mapping], emotions: Sequence[str]) -> pd.DataFrame:
    """One row per (listener, corpus, emotion): precision, recall, F1 (0 where undefined)."""
    df = utterance_answers(responses, corpora)
    rows = []
    for (lis, grp, corpus), g in df.groupby(["listener", "group", "corpus"], sort=True):
        rows += _prf_rows(
            g, emotions, {"listener": lis, "group": grp, "corpus": corpus, "lang": corpora[corpus]["lang"]}
        )
    return pd.DataFrame(rows)


def pooled_corpora(corpora: Mapping[str, Mapping], langs: Sequence[str]) -> list[str] | None:
    """The listening corpora whose language is one of `langs`, in language order; None when a
    language has no corpus (the pooled test would not be the study's)."""
    chosen = sorted(
        (c for c, spec in corpora.items() if spec["lang"] in langs), key=lambda c: (_lang_key(corpora[c]["lang"]), c)
    )
    if {corpora[c]["lang"] for c in chosen} != set(langs):
        return None
    return chosen


def pooled_prf(
    responses: pd.DataFrame, corpora: Mapping[str, Mapping], emotions: Sequence[str], pooled: Sequence[str]
) -> pd.DataFrame:
    """One row per (listener, emotion): precision/recall/F1 over the listener's answers on the
    `pooled` corpora taken together (answers concatenated, then the metric)."""
    df = utterance_answers(responses, {c: corpora[c] for c in pooled})
    name = "+".join(pooled)
    lang = "+".join(dict.fromkeys(corpora[c]["lang"] for c in pooled))
    rows = []
    for (lis, grp), g in df.groupby(["listener", "group"], sort=True):
        rows += _prf_rows(g, emotions, {"listener": lis, "group": grp, "corpus": name, "lang": lang})
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
    """Two-sided Welch's t-test (t, df, p) and Student's (t_student, df_student, p_student),
    Hedges' g, means and n; NaN statistics when a group has < 2 values or both are constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    out = {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "n_a": len(a), "n_b": len(b)}
    nan = float("nan")
    if len(a) < 2 or len(b) < 2 or (np.var(a) == 0 and np.var(b) == 0):
        return {
            **out,
            "t": nan,
            "df": nan,
            "p": nan,
            "t_student": nan,
            "df_student": nan,
            "p_student": nan,
            "hedges_g": nan,
        }
    with warnings.catch_warnings():  # one constant group (e.g. every DE listener at recall 1.0) is fine here
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        w = stats.ttest_ind(a, b, equal_var=False)
        s = stats.ttest_ind(a, b, equal_var=True)
    return {
        **out,
        "t": float(w.statistic),
        "df": welch_df(a, b),
        "p": float(w.pvalue),
        "t_student": float(s.statistic),
        "df_student": float(len(a) + len(b) - 2),
        "p_student": float(s.pvalue),
        "hedges_g": hedges_g(a, b),
    }


def _test(prf: pd.DataFrame, family: str, emotion: str, metric: str, ga: str, ca: str, gb: str, cb: str) -> dict | None:
    sel = prf[prf["emotion"] == emotion]
    a = sel[(sel["group"] == ga) & (sel["corpus"] == ca)][metric]
    b = sel[(sel["group"] == gb) & (sel["corpus"] == cb)][metric]
    if not (len(a) and len(b)):
        return None
    return {
        "family": family,
        "emotion": emotion,
        "metric": metric,
        "a": ga,
        "corpus_a": ca,
        "b": gb,
        "corpus_b": cb,
        **welch(a, b),
    }


def _corpora_of(prf: pd.DataFrame, lang: str) -> list[str]:
    return sorted(prf.loc[prf["lang"] == lang, "corpus"].unique())


def _study_rows(prf: pd.DataFrame, pooled: pd.DataFrame | None, study: pd.DataFrame) -> list[dict]:
    """The study's tests, oriented as the study's (a - b); one row per matching corpus (pair)."""
    rows = []
    for s in study.itertuples():
        if s.kind == "groups":
            cands = [(f"groups/{c}", prf, c, c) for c in _corpora_of(prf, s.lang_a)]
        elif s.kind == "corpora":
            cands = [
                (f"corpora/{s.group_a}", prf, ca, cb)
                for ca in _corpora_of(prf, s.lang_a)
                for cb in _corpora_of(prf, s.lang_b)
            ]
        elif s.kind == "pooled":
            cands = (
                []
                if pooled is None or pooled.empty
                else [(f"pooled/{c}", pooled, c, c) for c in _corpora_of(pooled, s.lang_a)]
            )
        else:
            raise ValueError(f"study test {s.study_test}: unknown kind '{s.kind}'")
        found = False
        for family, src, ca, cb in cands:
            row = _test(src, family, s.emotion, s.metric, s.group_a, ca, s.group_b, cb)
            if row is not None:
                rows.append({**row, "study_test": int(s.study_test), "t_study": float(s.t), "p_study": s.p})
                found = True
        if not found:
            log.warning("study test %d (%s): no matching answers, no row", s.study_test, s.description)
    return rows


def _pair(r: Mapping) -> tuple:
    return (r["family"], r["emotion"], r["metric"], frozenset({(r["a"], r["corpus_a"]), (r["b"], r["corpus_b"])}))


def welch_tests(
    prf: pd.DataFrame, emotions: Sequence[str], pooled: pd.DataFrame | None = None, study: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every family of tests, Holm-corrected p within each; the study's tests first.

    `pooled`: per-listener metrics on pooled corpora (`pooled_prf`), its own family;
    `study`: the study's tests (`study_tests()`), matched to rows and oriented as the study's.
    """
    rows = []
    groups = sorted(prf["group"].unique(), key=_lang_key) if len(prf) else []
    corpora = (
        sorted(prf["corpus"].unique(), key=lambda c: (_lang_key(prf.loc[prf["corpus"] == c, "lang"].iloc[0]), c))
        if len(prf)
        else []
    )
    combos = [(f"groups/{c}", prf, ga, c, gb, c) for c in corpora for ga, gb in itertools.combinations(groups, 2)]
    combos += [(f"corpora/{g}", prf, g, ca, g, cb) for g in groups for ca, cb in itertools.combinations(corpora, 2)]
    if pooled is not None and len(pooled):
        pgroups = sorted(pooled["group"].unique(), key=_lang_key)
        combos += [
            (f"pooled/{c}", pooled, ga, c, gb, c)
            for c in sorted(pooled["corpus"].unique())
            for ga, gb in itertools.combinations(pgroups, 2)
        ]
    for family, src, ga, ca, gb, cb in combos:
        for e in emotions:
            for m in METRICS:
                row = _test(src, family, e, m, ga, ca, gb, cb)
                if row is not None:
                    rows.append(row)
    if study is not None and len(prf):
        found = _study_rows(prf, pooled, study)
        replaced = {_pair(r) for r in found}
        rows = found + [r for r in rows if _pair(r) not in replaced]
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df.empty:
        return df
    df["study_test"] = df["study_test"].astype("Int64")
    df["p_holm"] = np.nan
    for idx in df.groupby("family").groups.values():
        p = df.loc[idx, "p"]
        ok = p.notna()
        if ok.any():
            df.loc[p[ok].index, "p_holm"] = multipletests(p[ok].to_numpy(), method="holm")[1]
    order = df["study_test"].fillna(99).astype(int)
    return df.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)[COLUMNS]


def _fmt_p(v: float) -> str:
    return "" if pd.isna(v) else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def _num(v: float, fmt: str) -> str:
    return "" if pd.isna(v) else format(v, fmt)


def _comparison(r) -> str:
    if r.a == r.b:
        return f"{r.a} listeners: {r.corpus_a} vs {r.corpus_b}"
    return f"{r.a} vs {r.b} listeners on {r.corpus_a}"


def summary_markdown(
    tests: pd.DataFrame, simulated: bool, alpha: float = 0.05, study: pd.DataFrame | None = None
) -> str:
    """Markdown summary: the study's four tests first, ours beside the study's; then the other
    tests significant at uncorrected p < alpha, with their Holm-corrected p."""
    lines = ["# t-tests on per-listener precision, recall and F1", ""]
    if simulated:
        lines += ["**SIMULATED listeners (demo): these tests say nothing about humans.**", ""]
    lines += [
        "Two-sided tests; Welch's (unequal variances, df by Welch–Satterthwaite) and Student's "
        "(pooled variance, df = n_a + n_b - 2, as the study printed t(10) for 6 + 6 listeners). Holm-corrected "
        "within each family (`groups/<corpus>`: the two listener groups on one corpus; "
        "`corpora/<group>`: one group across pairs of corpora; `pooled/<corpora>`: the two groups on the "
        "answers pooled across corpora). Across-corpora tests compare the same listeners, i.e. paired data; "
        "like the study we use unpaired tests there.",
        "",
    ]
    lines += ["## The study's four tests", ""]
    st = tests[tests["study_test"].notna()]
    ref = study if study is not None else study_tests()
    view = []
    for s in ref.itertuples():
        hit = st[st["study_test"] == s.study_test]
        if hit.empty:
            view.append(
                {
                    "test": s.study_test,
                    "description": s.description,
                    "comparison": "(no data)",
                    "means (a vs b)": "",
                    "t (Welch)": "",
                    "df (Welch)": "",
                    "p (Welch)": "",
                    "t(df) (Student)": "",
                    "p (Student)": "",
                    "p Holm": "",
                    "study t": f"{s.t:.3f}",
                    "study p": str(s.p),
                }
            )
        for r in hit.itertuples():
            view.append(
                {
                    "test": s.study_test,
                    "description": s.description,
                    "comparison": _comparison(r),
                    "means (a vs b)": f"{r.mean_a:.2f} vs {r.mean_b:.2f}",
                    "t (Welch)": _num(r.t, ".3f"),
                    "df (Welch)": _num(r.df, ".1f"),
                    "p (Welch)": _fmt_p(r.p),
                    "t(df) (Student)": "" if pd.isna(r.t_student) else f"t({r.df_student:.0f}) = {r.t_student:.3f}",
                    "p (Student)": _fmt_p(r.p_student),
                    "p Holm": _fmt_p(r.p_holm),
                    "study t": f"{s.t:.3f}",
                    "study p": str(s.p),
                }
            )
    lines += [to_markdown(pd.DataFrame(view)), ""]
    rest = tests[tests["study_test"].isna()]
    n_holm = int((tests["p_holm"] < alpha).sum())
    lines += [
        "## The other tests",
        "",
        f"{n_holm} of {int(tests['p'].notna().sum())} tests significant at Holm p < {alpha}; "
        f"below, the other tests with uncorrected p < {alpha} (every test, with uncorrected p, is in the CSV).",
        "",
    ]
    sig = rest[rest["p"] < alpha]
    if len(sig):
        view = sig.assign(
            comparison=[_comparison(r) for r in sig.itertuples()],
            t=sig["t"].map(lambda v: f"{v:.3f}"),
            df=sig["df"].map(lambda v: f"{v:.1f}"),
            p=sig["p"].map(_fmt_p),
            p_holm=sig["p_holm"].map(_fmt_p),
            g=sig["hedges_g"].map(lambda v: f"{v:.2f}"),
            means=[f"{r.mean_a:.2f} vs {r.mean_b:.2f}" for r in sig.itertuples()],
        )[["family", "comparison", "emotion", "metric", "means", "t", "df", "p", "p_holm", "g"]]
        lines.append(to_markdown(view.reset_index(drop=True)))
    return "\n".join(lines) + "\n"


def write_welch(
    responses_path: str | Path, corpora: Mapping[str, Mapping], emotions: Sequence[str], csv: str | Path, md: str | Path
) -> pd.DataFrame:
    """Read responses; write the full test table (CSV, the study's tests first) and the Markdown summary."""
    responses = read_table(responses_path, "responses")
    simulated = bool(responses["simulated"].fillna(False).any()) if "simulated" in responses else False
    study = spelled_study(study_tests(), emotions, sorted({str(spec["lang"]) for spec in corpora.values()}))
    pooled = None
    for langs in study.loc[study["kind"] == "pooled", "lang_a"].unique():
        chosen = pooled_corpora(corpora, str(langs).split("+"))
        if chosen is None:
            log.warning("pooled test over %s: not every language has a listening corpus, skipped", langs)
            continue
        part = pooled_prf(responses, corpora, emotions, chosen)
        pooled = part if pooled is None else pd.concat([pooled, part], ignore_index=True)
    tests = welch_tests(listener_prf(responses, corpora, emotions), emotions, pooled, study)
    write_csv(tests.assign(simulated=simulated), csv)
    write_text(summary_markdown(tests, simulated, study=study), md)
    return tests
