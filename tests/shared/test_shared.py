"""Shared library pieces: atomic output, contracts, metrics, tables, the experiment grid, batching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlser import metrics
from xlser.config import resolve
from xlser.contracts import read_table, validate_table
from xlser.errors import ConfigError, InputError
from xlser.io import atomic_path, write_csv
from xlser.models.batching import length_buckets
from xlser.report.tables import mean_std, to_latex, to_markdown, write_table

EMO = ["angry", "happy", "neutral", "sad"]


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("job killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert target.stat().st_mode & 0o044 == 0o044  # readable by others, like any output
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_ua_wa_f1_hand_computed():
    # true: 4 angry, 2 happy; pred: 3/4 angry right, 1/2 happy right
    y = ["angry"] * 4 + ["happy"] * 2
    p = ["angry", "angry", "angry", "happy", "happy", "angry"]
    assert metrics.ua(y, p, EMO) == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert metrics.wa(y, p) == pytest.approx(4 / 6)
    # F1 angry: P=3/4, R=3/4 -> .75; happy: P=1/2, R=1/2 -> .5
    assert metrics.macro_f1(y, p, EMO) == pytest.approx((0.75 + 0.5) / 2)


def test_ua_counts_a_never_predicted_class():
    y = ["angry", "happy", "neutral", "sad"]
    p = ["angry", "angry", "angry", "angry"]
    assert metrics.ua(y, p, EMO) == pytest.approx(0.25)


def test_confusion_is_row_normalised():
    y = ["angry", "angry", "sad", "sad"]
    p = ["angry", "sad", "sad", "sad"]
    cm = metrics.confusion(y, p, EMO)
    assert cm.loc["angry", "angry"] == 0.5 and cm.loc["angry", "sad"] == 0.5
    assert cm.loc["sad", "sad"] == 1.0
    assert cm.loc["happy"].sum() == 0.0  # absent class: zero row, not NaN


def test_contract_errors_name_file_and_line(tmp_path):
    path = tmp_path / "splits.csv"
    write_csv(pd.DataFrame({"utt_id": ["a", "b"], "fold": [0, 0], "partition": ["train", "dev"]}), path)
    with pytest.raises(InputError, match=r"splits.csv, line 3: column 'partition' must be one of"):
        read_table(path, "splits")


def test_contract_rejects_duplicates_and_missing_columns(tmp_path):
    df = pd.DataFrame({"utt_id": ["a", "a"], "fold": [0, 0], "partition": ["train", "val"]})
    with pytest.raises(InputError, match="line 3: duplicate utt_id/fold"):
        validate_table(df, "splits", "x.csv")
    with pytest.raises(InputError, match=r"missing column\(s\) \['partition'\]"):
        validate_table(df.drop(columns="partition"), "splits", "x.csv")


def test_contract_types_and_nullable_columns():
    df = pd.DataFrame(
        {
            "listener": ["l1"],
            "group": ["CN"],
            "corpus": ["C"],
            "utt_id": ["u"],
            "true": ["sad"],
            "pred": ["sad"],
            "seg_start": [None],
            "seg_end": [None],
        }
    )
    out = validate_table(df, "responses")
    assert out["seg_start"].isna().all()
    bad = df.assign(seg_start=["x"])
    with pytest.raises(InputError, match="seg_start' must be a number"):
        validate_table(bad, "responses")


def test_mean_std_and_tables(tmp_path):
    assert mean_std([0.5, 0.7]) == "60.0 ± 14.1"
    assert mean_std([0.5]) == "50.0"
    df = pd.DataFrame({"model": ["W2V2_CN"], "UA": ["60.0 ± 14.1"]})
    md = to_markdown(df)
    assert md.splitlines()[0] == "| model | UA |" and "| W2V2_CN | 60.0 ± 14.1 |" in md
    tex = to_latex(df, caption="UA %")
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"W2V2\_CN & 60.0 $\pm$ 14.1 \\" in tex
    assert r"\caption{UA \%}" in tex
    assert r"\begin{tabular}{ll}" in tex  # text columns left-aligned (pandas 3 strings are not object)
    assert r"\begin{tabular}{lc}" in to_latex(pd.DataFrame({"m": ["a"], "n": [1.5]}))
    paths = write_table(df, tmp_path / "t")
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex"] and all(p.exists() for p in paths)


def settings(experiments="grid"):
    """A study-shaped config (three SER corpora, a listening and a SED corpus, two models)."""
    corpus = {"format": "csv", "root": "."}
    return resolve(
        {
            "emotions": EMO,
            "splits": {"train_per_emotion": 1, "val": 4, "test": 4, "folds": 1},
            "corpora": {
                "ESD": {**corpus, "lang": "CN"},
                "PAVOQUE": {**corpus, "lang": "DE"},
                "IEMOCAP": {**corpus, "lang": "EN"},
                "TJD": {**corpus, "lang": "TJ", "role": "listening"},
                "ZED": {**corpus, "lang": "EN", "role": "sed"},
            },
            "models": {"W2V2-CN": {"source": "cn", "lang": "CN"}, "W2V2-DE": {"source": "de", "lang": "DE"}},
            "experiments": experiments,
        }
    )


def test_grid_settings_follow_the_study():
    s = settings()
    exps = {(e.model, e.train, e.test): e.setting for e in s.experiments}
    assert exps[("W2V2-CN", "ESD", "ESD")] == "mono"
    assert exps[("W2V2-CN", "ESD", "PAVOQUE")] == "cross"
    assert exps[("W2V2-CN", "PAVOQUE", "PAVOQUE")] == "trans"
    assert exps[("W2V2-CN", "IEMOCAP", "IEMOCAP")] == "trans"
    assert ("W2V2-CN", "PAVOQUE", "IEMOCAP") not in exps  # neither language is the model's
    assert not any("TJD" in k or "ZED" in k for k in exps)  # listening/sed corpora stay out
    assert len(exps) == 2 * (1 + 2 + 2)
    assert s.source_corpus("W2V2-DE") == "PAVOQUE"


def test_explicit_experiment_list_is_checked():
    ok = settings([{"model": "W2V2-DE", "train": "ESD", "test": "ESD"}]).experiments
    assert ok[0].setting == "trans"
    with pytest.raises(ConfigError, match="neither mono, cross nor trans"):
        settings([{"model": "W2V2-DE", "train": "ESD", "test": "IEMOCAP"}])
    with pytest.raises(ConfigError, match=r"experiments\[0\]\.test: 'TJD' names no corpus with role ser"):
        settings([{"model": "W2V2-DE", "train": "PAVOQUE", "test": "TJD"}])


def test_length_buckets_respect_budget_and_cover_all():
    rng = np.random.default_rng(0)
    d = rng.uniform(1, 6, size=200)
    batches = length_buckets(d, max_seconds=20.0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(200))
    for b in batches:
        assert len(b) == 1 or max(d[b]) * len(b) <= 20.0
    # sorted buckets pad far less than random batches of the same sizes
    padded = sum(max(d[b]) * len(b) for b in batches)
    assert padded / d.sum() < 1.15
    # training plans (seeded) cover every index once too; their contents change per seed (tests/models/test_batching.py)
    assert sorted(i for b in length_buckets(d, 20.0, shuffle_seed=1) for i in b) == list(range(200))
