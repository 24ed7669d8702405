"""Every rendered table checked cell by cell against its CSV: Tables I-IV (.md and .tex), the
Welch summary (.md) and the layer-wise table as the HTML report shows it. Small parsers for
the Markdown and booktabs tables read them back; each expected cell is formatted here from
the CSV's numbers, so a cell taken from the wrong row, column or experiment fails."""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

EMO = ["angry", "happy", "neutral", "sad"]
NA = {"", "–"}

# ---------------------------------------------------------------- parsers


def md_tables(text: str) -> list[list[dict[str, str]]]:
    """Every pipe table of a Markdown text, as rows of {header: cell}."""
    tables, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line.strip())
            continue
        if block:
            header, sep, *body = block
            assert re.fullmatch(r"\|(-{3,}\|)+", sep), f"not a separator row: {sep}"
            header, body = _cells(header), [_cells(b) for b in body]
            assert sep.count("|") == len(header) + 1
            for row in body:
                assert len(row) == len(header), f"ragged row {row} under {header}"
            tables.append([dict(zip(header, row)) for row in body])
            block = []
    return tables


def _cells(line: str) -> list[str]:
    assert line.startswith("| ") and line.endswith(" |"), line
    return [c.strip() for c in line[2:-2].split(" | ")]


def unlatex(cell: str) -> str:
    for a, b in (
        (r"$\pm$", "±"),
        (r"$\rightarrow$", "→"),
        (r"\textasciitilde{}", "~"),
        (r"\textasciicircum{}", "^"),
        (r"\textbackslash{}", "\\"),
    ):
        cell = cell.replace(a, b)
    return re.sub(r"\\([&%$#_{}])", r"\1", cell)


def tex_table(text: str) -> list[dict[str, str]]:
    """The booktabs table of a .tex file: header between toprule and midrule, rows until bottomrule."""
    lines = text.splitlines()
    top, mid, bottom = lines.index(r"\toprule"), lines.index(r"\midrule"), lines.index(r"\bottomrule")
    assert mid == top + 2, "one header row expected"

    def cells(line: str) -> list[str]:
        assert line.endswith(r" \\"), line
        return [unlatex(c.strip()) for c in re.split(r"(?<!\\) & ", line[:-3])]

    header = cells(lines[top + 1])
    rows = [cells(line) for line in lines[mid + 1 : bottom]]
    for r in rows:
        assert len(r) == len(header), f"ragged row {r}"
    return [dict(zip(header, r)) for r in rows]


def html_table(text: str) -> list[dict[str, str]]:
    header = [htmllib.unescape(h) for h in re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", text, re.S)]
    rows = []
    for tr in re.findall(r"<tr(?:\s[^>]*)?>(.*?)</tr>", text, re.S):
        tds = [htmllib.unescape(c.strip()) for c in re.findall(r"<td(?:\s[^>]*)?>(.*?)</td>", tr, re.S)]
        if tds:
            rows.append(dict(zip(header, tds)))
    return rows


def both(stem: Path) -> list[list[dict[str, str]]]:
    """The .md table and the .tex table of one stem (they must agree with each other too)."""
    md = md_tables(stem.with_suffix(".md").read_text(encoding="utf-8"))
    assert len(md) == 1
    tex = tex_table(stem.with_suffix(".tex").read_text(encoding="utf-8"))
    assert tex == md[0]
    return [md[0], tex]


def test_parsers_by_hand():
    from xlser.report.tables import to_latex, to_markdown

    df = pd.DataFrame({"a_b": ["x & y", "50%"], "c": ["1.0 ± 0.5", "CN → DE"]})
    assert md_tables(to_markdown(df, "cap")) == [[{"a_b": "x & y", "c": "1.0 ± 0.5"}, {"a_b": "50%", "c": "CN → DE"}]]
    assert tex_table(to_latex(df, "cap")) == md_tables(to_markdown(df))[0]


# ---------------------------------------------------------------- Table I


def ua_cell(mean: float, std: float, n: int) -> str:
    return f"{100 * mean:.1f}" if n < 2 or pd.isna(std) else f"{100 * mean:.1f} ± {100 * std:.1f}"


def test_table1_cells_against_csv(tmp_path):
    from xlser.peft.table1 import table1

    rng = np.random.default_rng(0)
    paths = []
    exps = [
        ("W2V2-CN", "mono", "DEMO-CN", "DEMO-CN", "CN", "CN"),
        ("W2V2-CN", "cross", "DEMO-CN", "DEMO-DE", "CN", "DE"),
        ("W2V2-DE", "cross", "DEMO-DE", "DEMO-CN", "DE", "CN"),
        ("W2V2-DE", "trans", "DEMO-CN", "DEMO-CN", "CN", "CN"),
    ]
    for model, setting, train, test, sl, tl in exps:
        for strategy in ("frozen", "lora", "lora+ba+wg"):
            if setting == "mono" and strategy == "lora+ba+wg":
                continue  # a strategy missing for one experiment: '–'
            for fold in range(3 if strategy != "frozen" else 1):
                m = {
                    "model": model,
                    "setting": setting,
                    "train": train,
                    "test": test,
                    "strategy": strategy,
                    "fold": fold,
                    "layer": 3,
                    "ua": float(rng.uniform(0.3, 0.95)),
                    "wa": 0.5,
                    "macro_f1": 0.5,
                    "epochs": 4,
                    "train_lang": sl,
                    "test_lang": tl,
                }
                p = tmp_path / f"{model}_{setting}_{train}_{test}_{strategy}_{fold}.json"
                p.write_text(json.dumps(m))
                paths.append(str(p))
    table1(paths, tmp_path / "t1")
    csv = pd.read_csv(tmp_path / "t1.csv")
    for rendered in both(tmp_path / "t1"):
        assert len(rendered) == len(exps)
        seen = set()
        for r in csv.itertuples():
            row = [
                x
                for x in rendered
                if x["Model"] == r.model
                and x["Setting"] == r.setting
                and x["Source → target"] == f"{r.source} → {r.target} ({r.train} → {r.test})"
            ]
            assert len(row) == 1, (r, rendered)
            row = row[0]
            assert row[r.strategy] == ua_cell(r.ua_mean, r.ua_std, r.n_folds), (r, row)
            study = f"{r.strategy} (study)"
            if study in row:
                assert row[study] == ("" if pd.isna(r.study_ua) else f"{100 * r.study_ua:.1f}"), (r, row)
            assert row["Layer"].split(" ")[0] == str(int(r.layer))
            seen.add((r.model, r.setting, r.strategy))
        # every strategy column of a row without a CSV row is '–'
        for row in rendered:
            for s in ("frozen", "lora", "lora+ba+wg"):
                if (row["Model"], row["Setting"], s) not in seen:
                    assert row[s] == "–"
        # the study's values exist for the study's experiments (W2V2-CN mono CN -> CN: 91.4 frozen)
        mono = next(x for x in rendered if x["Model"] == "W2V2-CN" and x["Setting"] == "mono")
        assert mono["frozen (study)"] == "91.4"


# ---------------------------------------------------------------- Tables II and III


def responses(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    rows = []
    for group, acc in (("CN", 0.55), ("DE", 0.8)):
        for i in range(3 + (group == "DE")):
            for corpus in ("X-CN", "X-DE"):
                n = 12 + (i == 0) * 4  # one listener answers more
                for k in range(n):
                    t = EMO[k % 4]
                    p = t if rng.random() < acc + (0.1 if corpus[-2:] == group else 0) else EMO[(k + 1 + i) % 4]
                    rows.append(
                        {
                            "listener": f"{group}{i}",
                            "group": group,
                            "corpus": corpus,
                            "utt_id": f"{corpus}-{k}",
                            "true": t,
                            "pred": p,
                            "seg_start": np.nan,
                            "seg_end": np.nan,
                            "simulated": False,
                        }
                    )
    path = tmp_path / "responses.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


CORPORA = {"X-CN": {"lang": "CN"}, "X-DE": {"lang": "DE"}}


def test_table2_cells_against_csv(tmp_path):
    from xlser.human.tables import write_table2

    path = responses(tmp_path)
    write_table2(path, CORPORA, EMO, tmp_path / "t2")
    csv = pd.read_csv(tmp_path / "t2.csv")
    resp = pd.read_csv(path)
    answers = resp.groupby(["group", "listener"]).size().groupby("group")
    for rendered in both(tmp_path / "t2"):
        assert [r["listeners"] for r in rendered] == ["CN", "DE"]
        assert len(csv) == 4
        for r in csv.itertuples():
            row = next(x for x in rendered if x["listeners"] == r.group)
            assert row[r.lang] == f"{r.ua_mean:.1f} ± {r.ua_std:.1f}", (r, row)
        for row in rendered:
            lo, hi = answers.min()[row["listeners"]], answers.max()[row["listeners"]]
            assert row["answers per listener"] == (f"{lo}" if lo == hi else f"{lo}–{hi}")


def test_table3_cells_against_csv(tmp_path):
    from xlser.human.tables import write_table3

    path = responses(tmp_path)
    pred = tmp_path / "M-CN" / "X-CN__X-CN.predictions.csv"
    pred.parent.mkdir()
    pd.DataFrame(
        {
            "model": "M-CN",
            "setting": "mono",
            "train": "X-CN",
            "test": "X-CN",
            "fold": [0, 0, 1, 1, 1],
            "layer": 2,
            "utt_id": ["a", "b", "c", "d", "e"],
            "true": ["angry", "happy", "angry", "sad", "neutral"],
            "pred": ["angry", "angry", "sad", "sad", "happy"],
        }
    ).to_csv(pred, index=False)
    write_table3(
        path,
        [pred],
        EMO,
        CORPORA,
        {"M-CN": {"lang": "CN"}},
        [{"model": "M-CN", "train": "X-CN", "test": "X-CN", "setting": "mono"}],
        tmp_path / "t3",
        tmp_path / "t3.png",
        tmp_path / "t3.pdf",
    )
    csv = pd.read_csv(tmp_path / "t3.csv")
    for rendered in both(tmp_path / "t3"):
        assert len(rendered) == len(csv)
        for r, row in zip(csv.itertuples(), rendered):  # one rendered row per CSV row, in order
            assert row["corpus"] == r.corpus and row["true"] == r.true
            assert row["panel"].startswith(f"{r.source}: ")
            model = r.model if isinstance(r.model, str) and r.model else f"model {r.group}"  # the study's: no name
            who = f"human {r.group}" if r.who == "human" else f"{model} {r.setting}"
            assert who in row["panel"], (r, row)
            for e in EMO:
                assert row[e] == f"{getattr(r, e):.2f}", (r, row, e)


# ---------------------------------------------------------------- Table IV


def test_table4_cells_against_csv(tmp_path):
    from xlser.sed.eder import interval_frames
    from xlser.sed.table4 import make_table4

    subset = pd.DataFrame(
        [
            {
                "utt_id": "u1",
                "emotion": "angry",
                "seg_start": 2.0,
                "seg_end": 4.0,
                "duration_s": 6.0,
                "path": "/a/u1.wav",
            },
            {
                "utt_id": "u2",
                "emotion": "sad",
                "seg_start": 1.0,
                "seg_end": 3.0,
                "duration_s": 5.0,
                "path": "/a/u2.wav",
            },
            {
                "utt_id": "u3",
                "emotion": "happy",
                "seg_start": 0.5,
                "seg_end": 1.5,
                "duration_s": 3.0,
                "path": "/a/u3.wav",
            },
        ]
    )
    subset.to_csv(tmp_path / "subset.csv", index=False)
    doc = {
        "model": "WavLM",
        "window": 0.02,
        "stride": 0.02,
        "utterances": {
            "u1": {"frames": "".join(interval_frames(6.0, 2.3, 4.0, "a", n_frames=299))},
            "u2": {"frames": "n" * 249},
            "u3": {"frames": "".join(interval_frames(3.0, 0.2, 1.5, "h", n_frames=149))},
        },
    }
    (tmp_path / "frames.json").write_text(json.dumps(doc))
    rows = [
        ("L1", "CN", "u1", "angry", 2.5, 4.5),
        ("L2", "CN", "u1", "neutral", None, None),
        ("L1", "CN", "u3", "happy", 0.7, 1.5),
        ("L3", "DE", "u1", "happy", 2.0, 4.0),
        ("L3", "DE", "u2", "sad", 1.2, 3.0),
        ("L4", "DE", "u3", "sad", 0.5, 1.5),
    ]
    pd.DataFrame(
        [
            {
                "listener": li,
                "group": g,
                "corpus": "ZED",
                "utt_id": u,
                "true": "x",
                "pred": p,
                "seg_start": s,
                "seg_end": e,
                "simulated": False,
            }
            for li, g, u, p, s, e in rows
        ]
    ).to_csv(tmp_path / "responses.csv", index=False)
    stem = tmp_path / "t4"
    make_table4(
        [tmp_path / "frames.json"],
        tmp_path / "subset.csv",
        tmp_path / "responses.csv",
        stem,
        tmp_path / "fig.png",
        ["angry", "happy", "sad"],
        "ZED",
    )
    csv = pd.read_csv(stem.with_suffix(".csv"))
    for rendered in both(stem):
        assert [r["emotion"] for r in rendered] == csv["emotion"].tolist()
        assert list(rendered[0]) == list(csv.columns)
        for r, row in zip(csv.to_dict("records"), rendered):
            for col in csv.columns[1:]:
                assert row[col] == ("" if pd.isna(r[col]) else f"{r[col]:.1f}"), (col, r, row)
    # and the CSV's numbers are the scores: the all-neutral column by hand
    neutral = csv.set_index("emotion")["all neutral"]
    assert neutral["angry"] == pytest.approx(100 * 2 / 6, abs=0.01)
    assert neutral["average"] == pytest.approx(100 * (2 / 6 + 2 / 5 + 1 / 3) / 3, abs=0.01)


# ---------------------------------------------------------------- Welch summary


def p_cell(v: float) -> str:
    return "" if pd.isna(v) else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def test_welch_summary_cells_against_csv(tmp_path):
    from xlser.human.welch import write_welch

    rng = np.random.default_rng(1)
    rows = []
    corpora = {"X-CN": {"lang": "CN"}, "X-DE": {"lang": "DE"}, "X-EN": {"lang": "EN"}}
    for g, acc in (("CN", 0.45), ("DE", 0.9)):
        for i in range(6):
            for corpus in corpora:
                for k in range(24):
                    t = EMO[k % 4]
                    p = t if rng.random() < acc else ("neutral" if t != "neutral" else "sad")
                    rows.append(
                        {
                            "listener": f"{g}{i}",
                            "group": g,
                            "corpus": corpus,
                            "utt_id": f"{corpus}-{k}",
                            "true": t,
                            "pred": p,
                            "seg_start": np.nan,
                            "seg_end": np.nan,
                            "simulated": False,
                        }
                    )
    path = tmp_path / "responses.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    write_welch(path, corpora, EMO, tmp_path / "w.csv", tmp_path / "w.md")
    csv = pd.read_csv(tmp_path / "w.csv")
    study, other = md_tables((tmp_path / "w.md").read_text(encoding="utf-8"))
    ours = csv[csv["study_test"].notna()]
    assert len(study) == len(ours) >= 4
    for r, row in zip(ours.itertuples(), study):
        assert row["test"] == str(int(r.study_test))
        assert row["means (a vs b)"] == f"{r.mean_a:.2f} vs {r.mean_b:.2f}"
        assert row["t (Welch)"] == f"{r.t:.3f}" and row["df (Welch)"] == f"{r.df:.1f}"
        assert row["p (Welch)"] == p_cell(r.p) and row["p Holm"] == p_cell(r.p_holm)
        assert row["t(df) (Student)"] == f"t({r.df_student:.0f}) = {r.t_student:.3f}"
        assert row["p (Student)"] == p_cell(r.p_student)
        assert row["study t"] == f"{r.t_study:.3f}"
    sig = csv[csv["study_test"].isna() & (csv["p"] < 0.05)]
    assert len(other) == len(sig) > 0
    for r, row in zip(sig.itertuples(), other):
        assert (row["family"], row["emotion"], row["metric"]) == (r.family, r.emotion, r.metric)
        assert row["means"] == f"{r.mean_a:.2f} vs {r.mean_b:.2f}"
        assert (row["t"], row["df"], row["p"], row["p_holm"], row["g"]) == (
            f"{r.t:.3f}",
            f"{r.df:.1f}",
            p_cell(r.p),
            p_cell(r.p_holm),
            f"{r.hedges_g:.2f}",
        )


# ---------------------------------------------------------------- layer-wise table (as the report shows it)


def test_layerwise_table_in_the_report_against_csv(tmp_path):
    from xlser.layerwise.summary import layerwise_summary
    from xlser.report.html import table_to_html

    rng = np.random.default_rng(2)
    files = []
    for model, train, test in (("M1", "A", "A"), ("M1", "A", "B"), ("M2", "B", "B")):
        rows = [
            {
                "model": model,
                "setting": "mono" if train == test else "cross",
                "train": train,
                "test": test,
                "fold": f,
                "layer": k,
                "ua": rng.uniform(0.25, 0.9),
                "wa": rng.uniform(0.25, 0.9),
                "macro_f1": rng.uniform(0.2, 0.9),
                "val_ua": rng.uniform(0.25, 0.9),
                "epochs": 10,
            }
            for f in range(3)
            for k in range(4)
        ]
        p = tmp_path / f"{model}_{train}_{test}.csv"
        pd.DataFrame(rows).to_csv(p, index=False)
        files.append(p)
    layerwise_summary(files, tmp_path / "layerwise.csv", tmp_path / "best.csv", tmp_path / "f.png", tmp_path / "f.pdf")
    csv = pd.read_csv(tmp_path / "layerwise.csv")
    shown = html_table(table_to_html(tmp_path / "layerwise.csv"))
    assert len(shown) == len(csv) == 12
    for r, row in zip(csv.to_dict("records"), shown):
        for col, v in r.items():
            want = "" if pd.isna(v) else (f"{v:.4g}" if isinstance(v, float) else str(v))
            assert row[col] == want, (col, r, row)
