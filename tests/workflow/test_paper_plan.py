"""Acceptance (issue 21): config/paper.yaml, as shipped with only its roots, fold-list folders and
listening files filled in (fixture trees in the real corpus layouts), plans the study's run.

Checked from the PLANNED jobs' params (Snakemake's own DAG, built through its API in a
subprocess), not from the config: fine-tuning at batch 1, every Table I experiment at the
study's logged layer (pinned: no job waits for best_layers.csv), the two-stage jobs at the
cross-lingual layer, seeds 42 wherever a planned job has one, Table III pooled, pooled
features stored as float32.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import copy_workflow
from fixtures_corpora import csv_tree, esd_tree, header_only_fold_lists, iemocap_tree, pavoque_tree, zed_tree

# the study's logged layers (shared/paper.md, "What the study's code actually ran")
STUDY_LAYERS = {
    ("W2V2-CN", "ESD", "ESD"): 6,  # mono CN
    ("W2V2-DE", "PAVOQUE", "PAVOQUE"): 4,  # mono DE
    ("W2V2-CN", "ESD", "PAVOQUE"): 3,  # cross CN -> DE
    ("W2V2-DE", "PAVOQUE", "ESD"): 4,  # cross DE -> CN
    ("W2V2-CN", "PAVOQUE", "PAVOQUE"): 4,  # trained on the other language
    ("W2V2-DE", "ESD", "ESD"): 4,
    ("W2V2-CN", "IEMOCAP", "IEMOCAP"): 4,  # trained on EN
    ("W2V2-DE", "IEMOCAP", "IEMOCAP"): 5,
}
STUDY_TWO_STAGE = {("W2V2-CN", "PAVOQUE", "PAVOQUE"): 3, ("W2V2-DE", "ESD", "ESD"): 4}  # the cross layer

# Snakemake's DAG for the given config files: every job's rule, wildcards, named inputs and params as JSON
PLAN = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

with SnakemakeApi(OutputSettings(quiet=None)) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"), workdir=Path("."),
                      config_settings=ConfigSettings(configfiles=[Path(p) for p in sys.argv[2:]]))
    wf.dag(DAGSettings())
    w = wf._workflow
    w._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True)
    w._build_dag()
    jobs = [{"rule": j.rule.name, "wildcards": dict(j.wildcards.items()),
             "inputs": {k: [v] if isinstance(v, str) else list(v) for k, v in j.input.items()},
             "params": {k: v for k, v in j.params.items()}} for j in w.dag.jobs]
Path(sys.argv[1]).write_text(json.dumps(jobs, default=str))
"""


def fill_in(tmp: Path) -> Path:
    """The overlay that fills paper.yaml's placeholders: fixture corpora in the real layouts,
    the study's fold-list folders (5 folds, header-only lists: planning reads no row), the
    listening-test files. Merged recursively over paper.yaml, as Snakemake merges configfiles."""
    data = tmp / "data"
    roots = {
        "ESD": esd_tree(data / "ESD", speakers=tuple(f"{i:04d}" for i in range(1, 11)), per_emotion=1),
        "PAVOQUE": pavoque_tree(data / "PAVOQUE"),
        "IEMOCAP": iemocap_tree(data / "IEMOCAP_full_release"),
        "ZED": zed_tree(data / "ZED"),
        "TJD": csv_tree(data / "TJD"),
    }
    corpora = {name: {"root": str(root)} for name, root in roots.items()}
    for name, folder in header_only_fold_lists(data).items():
        corpora[name]["folds"] = folder
    listening = data / "listening"
    webmushra = []
    for test in ("ser_cn", "ser_de"):
        (listening / "results" / test).mkdir(parents=True)
        (listening / "results" / test / "lss.csv").write_text(
            "session_test_id,trial_id,stimuli_rating,stimuli,rating_time\n"
        )
        webmushra.append(str(listening / "results" / test))
    for name in ("listeners.csv", "segments.csv"):
        (listening / name).write_text("listener,group,gender,background\n")
    overlay = {
        "corpora": corpora,
        "human": {
            "listeners": str(listening / "listeners.csv"),
            "webmushra": webmushra,
            "responses": [str(listening / "segments.csv")],
        },
    }
    path = tmp / "paths.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("paper_plan")
    (tmp / "work").mkdir()
    work = copy_workflow(tmp / "work")
    overlay = fill_in(tmp)
    files = ["config/paper.yaml", str(overlay)]
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--quiet", "rules", "--configfile", *files],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-4000:]
    out = tmp / "jobs.json"
    proc = subprocess.run(
        [sys.executable, "-c", PLAN, str(out), *files], cwd=work, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    jobs = json.loads(out.read_text())
    return {"jobs": jobs, "dry": dry.stdout}


def _jobs(plan: dict, rule: str) -> list[dict]:
    return [j for j in plan["jobs"] if j["rule"] == rule]


def _seeds(value, path=""):
    """(key path, value) of every `seed` key inside a param value."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "seed":
                yield f"{path}.{k}", v
            yield from _seeds(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _seeds(v, f"{path}[{i}]")


def test_fine_tuning_steps_per_utterance(plan):
    ft = _jobs(plan, "finetune_stacked")  # peft.training: stacked (the default): the 5 folds in one job
    assert len(ft) == 8 * 2 + 2  # LoRA and LoRA+BA+WG on Table I's 8 experiments, two-stage on 2
    assert {tuple(j["params"]["folds"]) for j in ft} == {(0, 1, 2, 3, 4)}
    assert {j["params"]["optim"]["batch_size"] for j in ft} == {1}
    assert "finetune_stacked" in plan["dry"]  # the CLI dry run planned them too


def test_every_study_experiment_runs_at_its_pinned_layer(plan):
    ft = _jobs(plan, "finetune_stacked")
    got = {}
    for j in ft:
        w = j["wildcards"]
        key = (w["model"], w["train"], w["test"])
        want = STUDY_TWO_STAGE[key] if w["strategy"] == "two_stage" else STUDY_LAYERS[key]
        assert j["params"]["layer"] == {"pinned": want}, (w, j["params"]["layer"])
        assert not j["inputs"].get("best_layers"), w  # a pinned job does not depend on the layer-wise summary
        got.setdefault((*key, w["strategy"]), set()).update(int(f) for f in j["params"]["folds"])
    assert {k[:3] for k in got} == set(STUDY_LAYERS)
    assert {k[:3] for k in got if k[3] == "two_stage"} == set(STUDY_TWO_STAGE)
    assert all(folds == {0, 1, 2, 3, 4} for folds in got.values())
    assert {j["params"]["finetune"]["two_stage_schedule"] for j in ft if j["wildcards"]["strategy"] == "two_stage"} == {
        "study"
    }


def test_table1_no_peft_from_the_probe_at_the_same_layers(plan):
    (t1,) = _jobs(plan, "table1_peft")
    probe = t1["params"]["probe"]
    assert t1["params"]["no_peft"] == "probe" and probe["folds"] == [0, 1, 2, 3, 4]
    assert {(e["model"], e["train"], e["test"]): e["layer"]["pinned"] for e in probe["experiments"]} == STUDY_LAYERS
    assert len(t1["inputs"]["probe"]) == 8 and not t1["inputs"].get("best_layers")


def test_seeds_are_42_wherever_a_planned_job_has_one(plan):
    seeds = {}
    for j in plan["jobs"]:
        for name, value in j["params"].items():
            if name == "seed":
                seeds[(j["rule"], name)] = value
            for path, v in _seeds(value, name):
                seeds[(j["rule"], path)] = v
    assert {("finetune_stacked", "optim.seed"), ("probe_layers", "probe.seed"), ("listening_subset", "seed")} <= set(
        seeds
    )
    assert set(seeds.values()) == {42}, {k: v for k, v in seeds.items() if v != 42}


def test_table3_model_panels_pool_the_fold_models(plan):
    (t3,) = _jobs(plan, "table3_confusions")
    assert (t3["params"]["source"], t3["params"]["strategy"], t3["params"]["combine"]) == (
        "finetune",
        "lora+ba+wg",
        "pool",
    )


def test_pooled_features_stored_as_float32(plan):
    ex = _jobs(plan, "extract_features")
    assert len(ex) == 3 + 3 + 1  # W2V2-CN and W2V2-DE on ESD, PAVOQUE and IEMOCAP; W2V2-EN on IEMOCAP
    assert {j["params"]["dtype"] for j in ex} == {"float32"}
