"""The whole workflow on the demo config (with tests/e2e.yaml on top), every output checked
for content: data stage, features, layer-wise tables and Figure 1, Table I, the listening
tests (Tables II, III, Welch), SED (Table IV) and the report."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from xlser.config import resolve
from xlser.contracts import read_table
from xlser.data.manifest import read_manifest
from xlser.sed.eder import utterance_eder

pytestmark = pytest.mark.e2e
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cfg(demo_run: Path) -> dict:
    def merge(a: dict, b: dict) -> dict:  # recursively, as Snakemake merges config files
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    base = yaml.safe_load((demo_run / "config" / "config.yaml").read_text())
    return merge(base, yaml.safe_load((demo_run / "tests" / "e2e.yaml").read_text()) or {})


def _png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 10_000, path


def test_data_stage(demo_run, cfg):
    for name, c in cfg["corpora"].items():
        man = read_manifest(demo_run / f"results/corpora/{name}/manifest.csv")
        assert (man["sample_rate"] == 16000).all() and (man["lang"] == c["lang"]).all()
        info = sf.info(man["path"].iloc[0])
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "FLOAT"
        assert abs(info.frames / 16000 - man["duration_s"].iloc[0]) < 1e-3
        assert set(man["emotion"]) <= set(cfg["emotions"])
        if c.get("role", "ser") == "ser":
            sp = read_table(demo_run / f"results/splits/{name}.csv", "splits").merge(man, on="utt_id")
            s = cfg["splits"]
            counts = sp.groupby(["fold", "partition", "emotion"]).size().unstack("emotion")
            assert set(counts.index.get_level_values(0)) == set(range(s["folds"]))
            for part, n in (("train", s["train_per_emotion"]), ("val", s["val"] // 4), ("test", s["test"] // 4)):
                assert (counts.xs(part, level="partition") == n).all().all(), (name, part)
        if c.get("role") == "sed":
            assert (man["seg_start"] < man["seg_end"]).all() and (man["seg_end"] <= man["duration_s"] + 0.05).all()
        else:
            lis = pd.read_csv(demo_run / f"results/splits/{name}.listening.csv")
            assert lis["emotion"].value_counts().to_dict() == dict.fromkeys(cfg["emotions"], s["listening_per_emotion"])


def test_features_hold_every_layer(demo_run, cfg):
    for model in cfg["models"]:
        layers = cfg["demo"]["models"][model]["num_hidden_layers"]
        dim = cfg["demo"]["models"][model]["hidden_size"]
        for corpus in ("DEMO-CN", "DEMO-DE", "DEMO-EN"):
            with np.load(demo_run / f"results/features/{model}/{corpus}.npz") as z:
                man = read_manifest(demo_run / f"results/corpora/{corpus}/manifest.csv")
                assert z["X"].dtype == np.float16 and z["X"].shape == (len(man), layers + 1, dim)
                assert sorted(z["utt_id"]) == sorted(man["utt_id"]) and np.isfinite(z["X"]).all()


def test_layerwise_tables_and_figure1(demo_run, cfg):
    table = pd.read_csv(demo_run / "results/tables/layerwise.csv")
    exps = resolve(copy.deepcopy(cfg)).experiments
    for e in exps:
        layers = cfg["demo"]["models"][e.model]["num_hidden_layers"] + 1
        rows = table[(table["model"] == e.model) & (table["train"] == e.train) & (table["test"] == e.test)]
        assert sorted(rows["layer"]) == list(range(layers)) and (rows["setting"] == e.setting).all()
        assert (rows["folds"] == cfg["splits"]["folds"]).all()
    assert table["ua_mean"].between(0, 1).all()
    best = pd.read_csv(demo_run / "results/layerwise/best_layers.csv")
    assert len(best) == len(exps)
    for r in best.itertuples():  # chosen by validation UA
        rows = table[(table["model"] == r.model) & (table["train"] == r.train) & (table["test"] == r.test)]
        assert r.layer == int(rows.loc[rows["val_ua_mean"].idxmax(), "layer"])
    # the demo carries emotion: the monolingual probes are well above chance (0.25)
    mono = best[best["setting"] == "mono"]
    assert mono["test_ua"].mean() > 0.4, mono
    _png(demo_run / "results/figures/figure1_layerwise.png")
    assert (demo_run / "results/figures/figure1_layerwise.pdf").read_bytes()[:4] == b"%PDF"


def test_table1(demo_run, cfg):
    t = pd.read_csv(demo_run / "results/tables/table1_peft.csv")
    md = (demo_run / "results/tables/table1_peft.md").read_text()
    tex = (demo_run / "results/tables/table1_peft.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and "|" in md
    assert set(t["strategy"]) == {"frozen", "lora", "lora+ba+wg", "two_stage"} and len(t) == 10
    assert set(t[t["strategy"] == "two_stage"]["setting"]) == {"trans"}  # two-stage: transfer only
    assert t["ua_mean"].between(0, 1).all() and (t["n_folds"] == 1).all()
    # the study's numbers sit next to ours (W2V2-CN mono CN->CN frozen: 91.4 %)
    mono = t[(t["setting"] == "mono") & (t["strategy"] == "frozen")]
    assert mono["study_ua"].tolist() == [0.914]
    for col in ("frozen", "lora+ba+wg", "two_stage"):
        assert col in md and col.replace("_", r"\_") in tex
    for m in (demo_run / "results/peft").rglob("metrics.json"):
        d = json.loads(m.read_text())
        assert 0 <= d["ua"] <= 1 and d["trainable_params"] < d["total_params"] and d["epochs"] >= 1
        preds = pd.read_csv(m.parent / "predictions.csv")
        assert len(preds) == cfg["splits"]["test"] and set(preds["true"]) == set(cfg["emotions"])
        assert (m.parent / "adapter.safetensors").stat().st_size > 0
    assert len(list((demo_run / "results/peft").rglob("metrics.json"))) == 10
    # every strategy ran as itself: those that adapt transformer layers kept at least one and
    # trained more than the head alone, never a column that silently equals `frozen` (the demo's
    # probes choose layer 0 for the mono and cross experiments)
    runs = [json.loads(m.read_text()) for m in (demo_run / "results/peft").rglob("metrics.json")]
    head = max(r["trainable_params"] for r in runs if r["strategy"] == "frozen")
    for r in runs:
        if r["strategy"] != "frozen":
            assert r["layers_kept"] >= 1 and r["trainable_params"] > head, r


def test_human_tables(demo_run, cfg):
    resp = read_table(demo_run / "results/human/responses.csv", "responses")
    assert resp["simulated"].all() and set(resp["group"]) == {"CN", "DE"}
    assert resp["listener"].nunique() == 12
    t2 = pd.read_csv(demo_run / "results/tables/table2_human_ua.csv")
    assert len(t2) > 0 and "SIMULATED" in (demo_run / "results/tables/table2_human_ua.md").read_text().upper()
    t3 = pd.read_csv(demo_run / "results/tables/table3_confusions.csv")
    assert len(t3) > 0
    # model panels: the fine-tuned fold models scored on exactly the stimuli listeners heard
    model = t3[(t3["source"] == "ours") & (t3["who"] == "model")]
    assert len(model) > 0 and (model["strategy"] == "lora+ba+wg").all()
    assert (model["n_utterances"] == cfg["splits"]["listening_per_emotion"]).all()
    _png(demo_run / "results/figures/table3_confusions.png")
    w = pd.read_csv(demo_run / "results/stats/welch_tests.csv")
    assert {"t", "df", "p", "p_holm", "df_student", "p_student", "study_test", "t_study"} <= set(w.columns)
    tested = w.dropna(subset=["p"])
    assert len(tested) > 0 and (tested["p_holm"] >= tested["p"] - 1e-12).all() and tested["p"].between(0, 1).all()
    study = w[w["study_test"].notna()]
    assert sorted(study["study_test"].astype(int)) == [1, 2, 3, 4]
    assert study["t_study"].tolist() == [-7.511, -5.614, -5.137, -2.708]
    assert (study["df_student"].dropna() == 10).all()  # 6 + 6 listeners: the study's t(10)


def test_table4_probe_beats_all_neutral(demo_run, cfg):
    t4 = pd.read_csv(demo_run / "results/tables/table4_eder.csv").set_index("emotion")
    assert len(t4) > 0
    # the study's values beside ours
    assert t4.loc["sad", "WavLM (study)"] == 50.3 and t4.loc["average", "DE listeners (study)"] == 28.2
    assert {"CN listeners", "CN listeners (study)", "DE listeners", "DE listeners (study)"} <= set(t4.columns)
    subset = pd.read_csv(demo_run / "results/sed/subset.csv")
    # the simulated listeners answered the draw: the subset is the utterances they annotated
    assert sorted(subset["utt_id"]) == sorted(pd.read_csv(demo_run / "results/sed/draw.csv")["utt_id"])
    frames = json.loads(next((demo_run / "results/sed").glob("*/frames.json")).read_text())
    utts = frames["utterances"]
    model, neutral = [], []
    for r in subset.itertuples():
        pred = utts[r.utt_id]["frames"]
        model.append(utterance_eder(pred, r.duration_s, r.emotion, r.seg_start, r.seg_end))
        neutral.append(utterance_eder(["n"] * len(pred), r.duration_s, r.emotion, r.seg_start, r.seg_end))
    assert np.mean(model) < np.mean(neutral), (np.mean(model), np.mean(neutral))
    _png(demo_run / "results/figures/sed_timeline.png")


def test_report_page(demo_run):
    html = (demo_run / "results/report/index.html").read_text()
    assert html.count("<table") >= 6 and html.count("data:image/png;base64,") >= 4
    assert "What this run cost, per rule" in html and "Job time per rule" in html


def test_cost_table_has_a_row_per_rule_that_ran(demo_run):
    """Every benchmarked job but the report's own is costed once, under its rule; the
    job times are the benchmark files' (a run that is not a rehearsal has no forecast)."""
    from xlser.report.cost import read_jobs

    cost = pd.read_csv(demo_run / "results/tables/cost.csv").set_index("rule")
    jobs = read_jobs(demo_run)  # every recorded job but the report's own
    assert jobs.attrs["uncosted"] == {}  # every benchmarked job recorded itself (xlser.smk)
    assert not {"cost_table", "report_html"} & set(jobs["rule"])
    assert len(jobs) > 50
    assert cost.drop("TOTAL")["jobs"].to_dict() == jobs.groupby("rule").size().to_dict()
    assert cost.loc["TOTAL", "wall_total_s"] == pytest.approx(jobs["s"].sum(), abs=0.01)
    assert cost.loc["finetune_stacked", "audio_s"] > 0 and cost.loc["extract_features", "audio_s_per_s"] > 0
    assert cost.loc["finetune_stacked", "max_rss_mb"] > 100 and cost.loc["extract_features", "max_rss_mb"] > 100
    assert cost["forecast_wall_s"].isna().all()
    md = (demo_run / "results/tables/cost.md").read_text()
    assert md.startswith(f"This run: {len(jobs)} jobs, wall time ")
    _png(demo_run / "results/figures/cost.png")


def test_listening_kits_round_trip(demo_run, cfg):
    """Each configured kit holds every listening stimulus of its corpora once, as a 16-bit PCM
    WAV under a key that names neither corpus nor emotion, in its own audio folder with nothing
    else in it (no .snakemake_timestamp); webMUSHRA's parser (yaml.js) reads its pages; and the
    ingested answers are keyed by it."""
    from webmushra_yamljs import webmushra_reads
    from xlser.human.kit import audio_dir, read_kit

    per_corpus = cfg["splits"]["listening_per_emotion"] * len(cfg["emotions"])
    n_listening = len([c for c in cfg["corpora"].values() if c.get("role", "ser") in ("ser", "listening")])
    responses = pd.read_csv(demo_run / "results/human/responses.csv")
    for test in cfg["human"]["tests"]:
        kit = demo_run / "results/listening_kit" / test["id"]
        test_id, pages, stimuli, names = read_kit(kit, test["id"])
        assert test_id == test["id"] and cfg["human"]["listener_column"] in names
        webmushra_reads(kit, test["id"])
        assert sorted(f.name for f in (kit / audio_dir(test["id"])).iterdir()) == sorted(
            f"{p.stimulus}.wav" for p in pages
        )
        assert len(pages) == len(stimuli) == per_corpus * len(test.get("corpora") or range(n_listening))
        assert len({p.stimulus for p in pages}) == len(pages)
        for page in pages:
            assert list(page.values) == cfg["emotions"]
            assert re.fullmatch(r"s[0-9a-f]{11}", page.stimulus)  # opaque: a keyed hash, no label in it
            wav = kit / audio_dir(test["id"]) / f"{page.stimulus}.wav"
            assert sf.info(str(wav)).subtype == "PCM_16"
            assert page.stimulus in stimuli
        answered = responses[responses["seg_start"].isna()]
        assert set(answered["utt_id"]) >= {utt for _, utt in stimuli.values()}


def test_demo_models_pretrained_on_their_own_language(demo_run, cfg):
    """The pre-training curves fall and every pre-trained model is scored on every language's
    held-out sentences (what the figure shows)."""
    models = [m for m, s in cfg["demo"]["models"].items() if s.get("voice")]
    for m in models:
        curve = pd.read_csv(demo_run / f"results/demo/pretrain_{m}.csv")
        assert len(curve) > 0 and curve["loss"].iloc[-1] < curve["loss"].iloc[0]
        assert (demo_run / f"resources/demo/models/{m}/config.json").is_file()
    table = pd.read_csv(demo_run / "results/demo/pretraining.csv")
    assert set(table["model"]) == set(models) and table["ctc_loss"].notna().all()
    assert len(table) == len(models) * table["test_lang"].nunique()
    _png(demo_run / "results/figures/demo_pretraining.png")
