"""Tables II and III: hand-computed UA/confusions, the study's matrix reproduced exactly, model matching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xlser.human.simulate import derived_matrix, human_matrix
from xlser.human.tables import model_panels, study_table3, table2, table3, write_table2, write_table3

EMO = ["angry", "happy", "neutral", "sad"]
CORPORA = {"X-CN": {"lang": "CN"}, "X-DE": {"lang": "DE"}, "X-EN": {"lang": "EN"}, "X-TJ": {"lang": "TJ"}}


def _resp(listener, group, corpus, pairs, simulated=False):
    return [
        {
            "listener": listener,
            "group": group,
            "corpus": corpus,
            "utt_id": f"{corpus}-{i}",
            "true": t,
            "pred": p,
            "seg_start": np.nan,
            "seg_end": np.nan,
            "simulated": simulated,
        }
        for i, (t, p) in enumerate(pairs)
    ]


def hand_responses() -> pd.DataFrame:
    # L1 (CN) on X-CN: angry 2/2, happy 1/2, neutral 0/1, sad 1/1 -> UA = (1 + .5 + 0 + 1)/4 = .625
    l1 = [
        ("angry", "angry"),
        ("angry", "angry"),
        ("happy", "happy"),
        ("happy", "neutral"),
        ("neutral", "sad"),
        ("sad", "sad"),
    ]
    # L2 (CN) on X-CN: all right -> UA 1.0
    l2 = [(t, t) for t, _ in l1]
    # L3 (DE) on X-CN: angry 1/2, happy 2/2, neutral 1/1, sad 0/1 -> UA = (.5+1+1+0)/4 = .625
    l3 = [
        ("angry", "happy"),
        ("angry", "angry"),
        ("happy", "happy"),
        ("happy", "happy"),
        ("neutral", "neutral"),
        ("sad", "neutral"),
    ]
    rows = _resp("L1", "CN", "X-CN", l1) + _resp("L2", "CN", "X-CN", l2) + _resp("L3", "DE", "X-CN", l3)
    # a segment answer must not count towards Table II
    rows.append({**rows[0], "utt_id": "seg", "corpus": "X-CN", "pred": "sad", "seg_start": 0.1, "seg_end": 0.5})
    return pd.DataFrame(rows)


def test_table2_by_hand():
    table, raw = table2(hand_responses(), CORPORA, EMO)
    cn = raw[(raw["group"] == "CN") & (raw["lang"] == "CN")].iloc[0]
    assert cn["n_listeners"] == 2
    assert cn["ua_mean"] == pytest.approx(100 * (0.625 + 1.0) / 2)
    sd = np.std([0.625, 1.0], ddof=1)
    assert cn["ua_std"] == pytest.approx(100 * sd)
    half = stats.t.ppf(0.975, 1) * sd / np.sqrt(2)
    assert cn["ci_low"] == pytest.approx(100 * (0.8125 - half)) and cn["ci_high"] == pytest.approx(
        100 * (0.8125 + half)
    )
    assert cn["study_ua"] == 79.5
    de = raw[(raw["group"] == "DE")].iloc[0]
    assert de["ua_mean"] == pytest.approx(62.5) and de["n_listeners"] == 1
    assert table.set_index("listeners").at["CN", "CN"] == "81.2 ± 26.5"
    # every listener gave 6 utterance-level answers (the segment answer does not count)
    assert table.set_index("listeners")["answers per listener"].to_dict() == {"CN": "6", "DE": "6"}
    assert (cn["answers_min"], cn["answers_max"]) == (6, 6)


def test_table2_shows_a_listener_with_fewer_answers():
    """L2 (CN) kept only 2 of 6 X-CN answers (both angry, both right: UA over the classes present
    = 1.0, so the mean alone does not show it); the table says 2–6 answers per CN listener."""
    df = hand_responses()
    df = df[~((df["listener"] == "L2") & ~df["utt_id"].isin(["X-CN-0", "X-CN-1"]))]
    table, raw = table2(df, CORPORA, EMO)
    assert table.set_index("listeners").at["CN", "answers per listener"] == "2–6"
    cn = raw[(raw["group"] == "CN") & (raw["lang"] == "CN")].iloc[0]
    assert (cn["answers_min"], cn["answers_max"], cn["n_listeners"]) == (2, 6, 2)
    assert cn["ua_mean"] == pytest.approx(100 * (0.625 + 1.0) / 2)


def test_table3_confusion_by_hand():
    long = table3(hand_responses(), {}, EMO, CORPORA, {}, [])
    ours = long[(long["source"] == "ours") & (long["group"] == "CN")].set_index("true")
    # CN pooled over L1 and L2: angry 4/4; happy 3 happy + 1 neutral; neutral 1 neutral + 1 sad; sad 2/2
    expect = np.array([[1, 0, 0, 0], [0, 0.75, 0.25, 0], [0, 0, 0.5, 0.5], [0, 0, 0, 1]])
    np.testing.assert_allclose(ours.loc[EMO, EMO].to_numpy(float), expect)
    assert ours["n"].to_dict() == {"angry": 4, "happy": 4, "neutral": 2, "sad": 2}
    # the study's panel (a) is printed next to ours
    study = long[(long["source"] == "study (a)")].set_index("true")
    assert study.at["happy", "neutral"] == pytest.approx(0.18)


def test_study_matrix_reproduced_exactly():
    """100 answers per true class following panel (k) (CN listeners on EN) give (k) and its UA back."""
    ref = study_table3()
    k = ref[ref["panel"] == "k"].set_index("true").loc[EMO, EMO]
    k = k.div(k.sum(axis=1), axis=0)  # published rows are rounded; (k) sums to 1 already
    rows = []
    for t in EMO:
        counts = np.rint(k.loc[t].to_numpy() * 100).astype(int)
        assert counts.sum() == 100
        preds = np.repeat(EMO, counts)
        for j, p in enumerate(preds):
            rows.append(
                {
                    "listener": f"L{j % 5}",
                    "group": "CN",
                    "corpus": "X-EN",
                    "utt_id": f"{t}{j}",
                    "true": t,
                    "pred": p,
                    "seg_start": np.nan,
                    "seg_end": np.nan,
                    "simulated": False,
                }
            )
    df = pd.DataFrame(rows)
    long = table3(df, {}, EMO, CORPORA, {}, [])
    ours = long[long["source"] == "ours"].set_index("true").loc[EMO, EMO].to_numpy(float)
    np.testing.assert_allclose(ours, k.to_numpy(float), atol=1e-12)
    diag_ua = np.mean(np.diag(k.to_numpy(float)))
    assert long[long["source"] == "ours"]["ua"].iloc[0] == pytest.approx(diag_ua)
    assert diag_ua == pytest.approx((0.54 + 0.61 + 0.58 + 0.81) / 4)


def test_model_matching():
    models = {"M-CN": {"lang": "CN"}, "M-DE": {"lang": "DE"}}
    exps = [
        {"model": "M-CN", "train": "X-CN", "test": "X-CN", "setting": "mono"},
        {"model": "M-CN", "train": "X-CN", "test": "X-DE", "setting": "cross"},
        {"model": "M-CN", "train": "X-DE", "test": "X-DE", "setting": "trans"},
        {"model": "M-CN", "train": "X-EN", "test": "X-DE", "setting": "cross"},
        {"model": "M-DE", "train": "X-DE", "test": "X-DE", "setting": "mono"},
    ]
    assert [e["setting"] for e in model_panels("CN", "X-CN", "CN", models, exps, CORPORA)] == ["mono"]
    got = model_panels("CN", "X-DE", "DE", models, exps, CORPORA)
    assert [(e["setting"], e["train"]) for e in got] == [("cross", "X-CN"), ("trans", "X-DE")]
    assert [e["model"] for e in model_panels("DE", "X-DE", "DE", models, exps, CORPORA)] == ["M-DE"]
    assert model_panels("DE", "X-TJ", "TJ", models, exps, CORPORA) == []


def test_derived_tj_matrix_hits_table2():
    for group, target in (("CN", 0.675), ("DE", 0.292)):
        m = human_matrix(group, "TJ", EMO)
        np.testing.assert_allclose(m.sum(axis=1), 1)
        assert np.mean(np.diag(m)) == pytest.approx(target)
        assert (m >= 0).all()
    # off-diagonals keep the group's typical confusion (CN: happy -> neutral over happy -> sad)
    m = derived_matrix("CN", 0.5, EMO)
    assert m[1, 2] > m[1, 3]
    np.testing.assert_allclose(human_matrix("DE", "DE", EMO)[0], [0.97, 0.03, 0, 0])


def test_writers_with_models(tmp_path: Path):
    resp = hand_responses()
    resp["simulated"] = True
    rpath = tmp_path / "responses.csv"
    resp.to_csv(rpath, index=False)
    pred = tmp_path / "M-CN" / "X-CN__X-CN.predictions.csv"
    pred.parent.mkdir()
    pd.DataFrame(
        {
            "model": "M-CN",
            "setting": "mono",
            "train": "X-CN",
            "test": "X-CN",
            "fold": [0, 0, 1, 1],
            "layer": 2,
            "utt_id": ["a", "b", "c", "d"],
            "true": ["angry", "happy", "angry", "sad"],
            "pred": ["angry", "angry", "angry", "sad"],
        }
    ).to_csv(pred, index=False)
    raw = write_table2(rpath, CORPORA, EMO, tmp_path / "t2")
    assert len(raw) == 2 and "SIMULATED" in (tmp_path / "t2.md").read_text()
    assert "\\toprule" in (tmp_path / "t2.tex").read_text()
    long = write_table3(
        rpath,
        [pred],
        EMO,
        CORPORA,
        {"M-CN": {"lang": "CN"}},
        [{"model": "M-CN", "train": "X-CN", "test": "X-CN", "setting": "mono"}],
        tmp_path / "t3",
        tmp_path / "t3.png",
        tmp_path / "t3.pdf",
    )
    model = long[(long["who"] == "model") & (long["source"] == "ours")].set_index("true")
    # folds pooled: angry 2/2 right, happy -> angry, sad right, neutral absent (row of zeros)
    assert model.at["happy", "angry"] == 1.0 and model.at["angry", "angry"] == 1.0
    assert model.loc["neutral", EMO].sum() == 0
    assert model["ua"].iloc[0] == pytest.approx((1 + 0 + 1) / 3)
    assert (long["source"] == "study (b)").sum() == 4
    assert (tmp_path / "t3.png").stat().st_size > 10_000 and (tmp_path / "t3.pdf").stat().st_size > 1000


# ---------------------------------------------------------------- model panels on the stimuli

from xlser.errors import InputError  # noqa: E402
from xlser.human.tables import read_fold_stimuli, stimulus_predictions  # noqa: E402


def _fold_frame(probs: dict[str, tuple[str, list[float]]], in_train: set[str] = frozenset()) -> pd.DataFrame:
    """utt_id -> (true, [p_angry, p_happy, p_neutral, p_sad]) as a stimuli.csv frame."""
    rows = []
    for u, (t, p) in probs.items():
        rows.append(
            {
                "utt_id": u,
                "true": t,
                "pred": EMO[int(np.argmax(p))],
                "in_train": u in in_train,
                **{f"p_{e}": v for e, v in zip(EMO, p)},
            }
        )
    return pd.DataFrame(rows)


STIM = {
    "s1": ("angry", [0.6, 0.2, 0.1, 0.1]),
    "s2": ("happy", [0.1, 0.5, 0.3, 0.1]),
    "s3": ("neutral", [0.2, 0.2, 0.5, 0.1]),
    "s4": ("sad", [0.1, 0.1, 0.2, 0.6]),
}


def test_fold_probabilities_averaged_and_argmaxed():
    f0 = _fold_frame(STIM)
    f1 = _fold_frame({**STIM, "s2": ("happy", [0.1, 0.2, 0.6, 0.1])})  # fold 1 says neutral for s2
    got = stimulus_predictions([(0, "f0", f0), (1, "f1", f1)], list(STIM), EMO).set_index("utt_id")
    # s2: mean happy (.5 + .2)/2 = .35 < mean neutral (.3 + .6)/2 = .45 -> neutral
    assert got.at["s2", "p_happy"] == pytest.approx(0.35) and got.at["s2", "p_neutral"] == pytest.approx(0.45)
    assert got.at["s2", "pred"] == "neutral" and got.at["s1", "pred"] == "angry"
    assert (got["n_folds"] == 2).all() and got["true"].to_dict() == {u: t for u, (t, _) in STIM.items()}


def test_non_stimulus_prediction_changes_nothing():
    base = stimulus_predictions([(0, "f0", _fold_frame(STIM))], list(STIM), EMO)
    planted = _fold_frame({**STIM, "x9": ("angry", [0, 0, 0, 1])})  # a non-stimulus, confidently wrong
    again = stimulus_predictions([(0, "f0", planted)], list(STIM), EMO)
    pd.testing.assert_frame_equal(base, again)
    # and through Table III: same matrices whatever the fold model said about other utterances
    resp = pd.DataFrame(_resp("L1", "CN", "X-CN", [(t, t) for t, _ in STIM.values()]))
    resp["utt_id"] = list(STIM)
    exps = [{"model": "M-CN", "train": "X-CN", "test": "X-CN", "setting": "mono"}]
    models = {"M-CN": {"lang": "CN"}}
    key = ("M-CN", "X-CN", "X-CN")
    a = table3(resp, {}, EMO, CORPORA, models, exps, {key: [(0, "f0", _fold_frame(STIM))]}, "lora")
    b = table3(resp, {}, EMO, CORPORA, models, exps, {key: [(0, "f0", planted)]}, "lora")
    pd.testing.assert_frame_equal(a, b)
    model = a[(a["who"] == "model") & (a["source"] == "ours")]
    assert (model["n_utterances"] == 1).all() and (model["strategy"] == "lora").all() and model["ua"].iloc[0] == 1.0


def test_stimulus_in_training_never_scored_by_that_fold():
    # fold 0 trained on s1 (and would call it sad); fold 1 did not: s1 is scored by fold 1 alone
    f0 = _fold_frame({**STIM, "s1": ("angry", [0, 0, 0, 1])}, in_train={"s1"})
    f1 = _fold_frame({**STIM, "s1": ("angry", [0.4, 0.3, 0.2, 0.1])})
    got = stimulus_predictions([(0, "f0", f0), (1, "f1", f1)], list(STIM), EMO).set_index("utt_id")
    assert got.at["s1", "n_folds"] == 1 and got.at["s1", "p_sad"] == pytest.approx(0.1)
    assert got.at["s1", "pred"] == "angry" and got.at["s2", "n_folds"] == 2
    # no eligible fold at all: an error that names the stimulus
    with pytest.raises(InputError, match="stimulus 's1'"):
        stimulus_predictions([(0, "f0", f0)], list(STIM), EMO)
    with pytest.raises(InputError, match="stimulus 's5'"):
        stimulus_predictions([(0, "f0", f1)], [*STIM, "s5"], EMO)


def test_write_table3_finetune_source(tmp_path: Path):
    # two listener groups heard 2 stimuli per emotion of X-CN; two fold models, one trained on a stimulus
    stim = {f"c{e}{k}": (e, np.eye(4)[EMO.index(e)] * 0.7 + 0.075) for e in EMO for k in range(2)}
    rows = []
    for grp, lis in (("CN", ["L1", "L2"]), ("DE", ["L3"])):
        for l in lis:
            rows += [
                {
                    "listener": l,
                    "group": grp,
                    "corpus": "X-CN",
                    "utt_id": u,
                    "true": t,
                    "pred": t,
                    "seg_start": np.nan,
                    "seg_end": np.nan,
                    "simulated": True,
                }
                for u, (t, _) in stim.items()
            ]
    rpath = tmp_path / "responses.csv"
    pd.DataFrame(rows).to_csv(rpath, index=False)
    paths = []
    for fold, in_train in ((0, {"cangry0"}), (1, set())):
        p = tmp_path / "peft" / "M-CN" / "X-CN__X-CN" / "lora+ba+wg" / f"fold{fold}" / "stimuli.csv"
        p.parent.mkdir(parents=True)
        extra = {"other": ("sad", [1, 0, 0, 0])}  # a non-stimulus
        _fold_frame({**{u: (t, list(v)) for u, (t, v) in stim.items()}, **extra}, in_train).to_csv(p, index=False)
        paths.append(p)
    assert set(read_fold_stimuli(paths, EMO)) == {("M-CN", "X-CN", "X-CN")}
    long = write_table3(
        rpath,
        [],
        EMO,
        CORPORA,
        {"M-CN": {"lang": "CN"}, "M-DE": {"lang": "DE"}},
        [{"model": "M-CN", "train": "X-CN", "test": "X-CN", "setting": "mono"}],
        tmp_path / "t3",
        tmp_path / "t3.png",
        tmp_path / "t3.pdf",
        source="finetune",
        stimuli_paths=paths,
        strategy="lora+ba+wg",
    )
    ours = long[long["source"] == "ours"]
    model = ours[ours["who"] == "model"]
    assert len(model) == 4 and (model["n_utterances"] == 2).all() and (model["n"] == 2).all()
    human = ours[(ours["who"] == "human") & (ours["group"] == "CN")]
    assert (human["n_utterances"] == 2).all() and (human["n"] == 4).all()
    assert long[long["source"].str.startswith("study")]["n_utterances"].isna().all()
    csv = pd.read_csv(tmp_path / "t3.csv")
    assert "n_utterances" in csv.columns and "(lora+ba+wg)" in (tmp_path / "t3.md").read_text()
    with pytest.raises(InputError, match="strategy"):
        write_table3(
            rpath,
            [],
            EMO,
            CORPORA,
            {},
            [],
            tmp_path / "t3",
            tmp_path / "t3.png",
            tmp_path / "t3.pdf",
            source="finetune",
            stimuli_paths=paths,
            strategy="lora",
        )


def test_pooled_table3_equals_the_matrix_counted_by_hand_from_five_fold_models():
    """human.table3.combine: pool (the study's): every eligible fold model's prediction on every
    stimulus counts once, then rows are normalised; average: one argmax per stimulus."""
    # 8 stimuli (2 per emotion); five fold models; the argmax (pred) of each model per stimulus:
    preds = {  # utt: (true, [fold 0, 1, 2, 3, 4])
        "a0": ("angry", ["angry", "angry", "angry", "happy", "angry"]),
        "a1": ("angry", ["sad", "angry", "angry", "angry", "angry"]),
        "h0": ("happy", ["happy", "neutral", "neutral", "happy", "angry"]),
        "h1": ("happy", ["happy", "happy", "happy", "happy", "neutral"]),
        "n0": ("neutral", ["neutral", "neutral", "sad", "neutral", "neutral"]),
        "n1": ("neutral", ["neutral", "neutral", "neutral", "neutral", "neutral"]),
        "s0": ("sad", ["sad", "neutral", "neutral", "neutral", "sad"]),
        "s1": ("sad", ["sad", "sad", "sad", "sad", "happy"]),
    }
    folds = []
    for k in range(5):
        # fold 4 trained on n1: it must not count (9 of 10 neutral predictions remain)
        probs = {u: (t, list(np.eye(4)[EMO.index(ps[k])] * 0.6 + 0.1)) for u, (t, ps) in preds.items()}
        folds.append((k, f"f{k}", _fold_frame(probs, in_train={"n1"} if k == 4 else set())))
    # by hand, rows true, columns angry happy neutral sad, over the 10 (neutral: 9) predictions:
    # angry:   a0 -> 4 angry 1 happy; a1 -> 4 angry 1 sad              -> 8/10 0.1 0 0.1
    # happy:   h0 -> 2 happy 2 neutral 1 angry; h1 -> 4 happy 1 neutral -> 0.1 6/10 3/10 0
    # neutral: n0 -> 4 neutral 1 sad; n1 -> 4 neutral (fold 4 dropped)  -> 0 0 8/9 1/9
    # sad:     s0 -> 2 sad 3 neutral; s1 -> 4 sad 1 happy               -> 0 0.1 0.3 0.6
    hand = np.array([[0.8, 0.1, 0, 0.1], [0.1, 0.6, 0.3, 0], [0, 0, 8 / 9, 1 / 9], [0, 0.1, 0.3, 0.6]])
    resp = pd.DataFrame(_resp("L1", "CN", "X-CN", [(t, t) for t, _ in preds.values()]))
    resp["utt_id"] = list(preds)
    exps = [{"model": "M-CN", "train": "X-CN", "test": "X-CN", "setting": "mono"}]
    key = ("M-CN", "X-CN", "X-CN")
    long = table3(resp, {}, EMO, CORPORA, {"M-CN": {"lang": "CN"}}, exps, {key: folds}, "lora+ba+wg", combine="pool")
    model = long[(long["who"] == "model") & (long["source"] == "ours")].set_index("true").loc[EMO]
    np.testing.assert_allclose(model[EMO].to_numpy(float), hand, atol=1e-12)
    assert model["n"].tolist() == [10, 10, 9, 10] and model["n_utterances"].tolist() == [2, 2, 2, 2]
    assert model["ua"].iloc[0] == pytest.approx((0.8 + 0.6 + 8 / 9 + 0.6) / 4)
    # average: one prediction per stimulus (the argmax of the mean probabilities = the majority here)
    avg = table3(resp, {}, EMO, CORPORA, {"M-CN": {"lang": "CN"}}, exps, {key: folds}, "lora+ba+wg")
    avg = avg[(avg["who"] == "model") & (avg["source"] == "ours")].set_index("true").loc[EMO]
    # a0 a1 -> angry; h0: happy 2 = neutral 2 -> first maximum (happy); h1 happy; n0 n1 neutral; s0 neutral, s1 sad
    np.testing.assert_allclose(avg[EMO].to_numpy(float), [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0.5, 0.5]])
    assert avg["n"].tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="combine 'vote'"):
        stimulus_predictions(folds, list(preds), EMO, combine="vote")
