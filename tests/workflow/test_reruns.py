"""Partial re-runs: every named target plans only the jobs it needs, and changing a PEFT
hyper-parameter on a finished run re-plans fine-tuning but not feature extraction."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from conftest import copy_workflow

ENCODER = {"extract_features", "probe_layers", "layerwise_summary"}
FINETUNE = "finetune_stacked"  # peft.training: stacked, the default (separate: finetune, one job per fold)
PEFT = {FINETUNE, "table1_peft"}
HUMAN = {"ingest_listening_test", "table2_human_ua", "table3_confusions", "welch_tests"}
SED = {"diarize", "table4_eder"}
# target: (rules that must be planned, rules that must not)
EXPECT = {
    "data": (
        {"scan_corpus", "resample_corpus", "make_splits", "listening_subset"},
        ENCODER | PEFT | HUMAN | SED | {"demo_model", "cost_table", "report_html"},
    ),
    "figure1": (
        {"make_splits", "extract_features", "probe_layers", "layerwise_summary"},
        PEFT | HUMAN | SED | {"cost_table", "report_html"},
    ),
    "table1": ({FINETUNE, "table1_peft"}, HUMAN | SED | {"cost_table", "report_html"}),
    "table2": (
        {"ingest_listening_test", "table2_human_ua"},
        ENCODER | PEFT | SED | {"table3_confusions", "welch_tests", "demo_model", "make_splits"},
    ),
    # Table III's model panels: the fine-tuned fold models scored on the stimuli (human.table3)
    "table3": (
        {"table3_confusions", FINETUNE, "probe_layers", "ingest_listening_test"},
        SED | {"table1_peft", "table2_human_ua", "welch_tests"},
    ),
    "table4": ({"diarize", "table4_eder"}, PEFT | {"table2_human_ua", "table3_confusions", "welch_tests"}),
    "stats": (
        {"welch_tests", "ingest_listening_test"},
        ENCODER | PEFT | SED | {"table2_human_ua", "table3_confusions", "demo_model"},
    ),
    "report": (ENCODER | PEFT | HUMAN | SED | {"cost_table", "report_html"}, set()),
    # what every job of the run cost: all of them ran before it
    "cost": (ENCODER | PEFT | HUMAN | SED | {"cost_table"}, {"report_html"}),
}


def planned(workdir: Path, *args: str) -> dict[str, int]:
    """{rule: job count} from a Snakemake dry run (its 'Job stats' table)."""
    cmd = [sys.executable, "-m", "snakemake", *args, "-n", "--quiet", "rules"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    jobs: dict[str, int] = {}
    table = out.split("Job stats:", 1)[1]
    for line in table.splitlines():
        m = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if m and m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
        elif line.strip().startswith("total"):
            break
    return jobs


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy with no results, so every plan starts from nothing."""
    return copy_workflow(tmp_path_factory.mktemp("reruns"))


def test_parser_reads_job_counts(fresh: Path) -> None:
    jobs = planned(fresh, "data")
    # the demo config has five corpora: one scan and one resample each, one data target
    assert jobs["scan_corpus"] == 5 and jobs["resample_corpus"] == 5 and jobs["data"] == 1


@pytest.mark.parametrize("target", list(EXPECT))
def test_named_target_plans_only_what_it_needs(fresh: Path, target: str) -> None:
    jobs = set(planned(fresh, target))
    must, must_not = EXPECT[target]
    assert target in jobs
    assert must <= jobs, f"{target} does not plan {sorted(must - jobs)}"
    assert not (must_not & jobs), f"{target} plans {sorted(must_not & jobs)}"


@pytest.mark.e2e
def test_finished_demo_has_nothing_to_do(demo_run: Path) -> None:
    assert planned(demo_run, "--configfile", "config/config.yaml", "tests/e2e.yaml") == {}


@pytest.mark.e2e
def test_peft_param_change_reruns_finetune_not_features(demo_run: Path, tmp_path: Path) -> None:
    import yaml

    base = yaml.safe_load((demo_run / "config/config.yaml").read_text())
    e2e = yaml.safe_load((demo_run / "tests/e2e.yaml").read_text()) or {}
    peft = {**base["peft"], **e2e.get("peft", {})}
    overlay = tmp_path / "peft_lr.yaml"
    overlay.write_text(yaml.safe_dump({"peft": {**peft, "lr": peft["lr"] * 2}}))
    jobs = planned(demo_run, "--configfile", "config/config.yaml", "tests/e2e.yaml", str(overlay))
    assert FINETUNE in jobs and "table1_peft" in jobs
    assert not ({"extract_features", "probe_layers", "demo_corpus", "diarize"} & set(jobs)), jobs


def test_paper_config_on_real_layouts_plans_the_study(tmp_path: Path) -> None:
    """config/paper.yaml with its placeholders pointed at corpora in the documented layouts
    (and listening-test files) gives the study's full plan, with nothing from the demo."""
    import yaml

    from fixtures_corpora import csv_tree, esd_tree, iemocap_tree, pavoque_tree, zed_tree

    (tmp_path / "w").mkdir()
    work = copy_workflow(tmp_path / "w")
    data = tmp_path / "data"
    roots = {
        "ESD": esd_tree(data / "ESD"),
        "PAVOQUE": pavoque_tree(data / "PAVOQUE"),
        "IEMOCAP": iemocap_tree(data / "IEMOCAP"),
        "ZED": zed_tree(data / "ZED"),
        "TJD": csv_tree(data / "TJD"),
    }
    listening = data / "listening"
    for sub in ("cn", "de"):
        (listening / sub).mkdir(parents=True)
        (listening / sub / "lss.csv").write_text("session_test_id,trial_id,stimuli_rating,stimuli,rating_time\n")
    for name in ("listeners.csv", "segments.csv", "stimuli.csv"):
        (listening / name).write_text("stub\n")
    paper = yaml.safe_load((work / "config/paper.yaml").read_text())
    text = (work / "config/paper.yaml").read_text()
    assert text.count("/path/to/") >= 9  # every user path is an obvious placeholder
    overlay = {
        # folds drawn here (the study's fold lists, `folds`, are planned in test_paper_plan.py)
        "corpora": {
            name: {
                **{k: v for k, v in paper["corpora"][name].items() if k != "folds"},
                "root": str(root),
                **({"table": "labels.csv"} if name == "TJD" else {}),
            }
            for name, root in roots.items()
        },
        "human": {
            **paper["human"],
            "listeners": str(listening / "listeners.csv"),
            "webmushra": [str(listening / "cn"), str(listening / "de")],
            "responses": [str(listening / "segments.csv")],
            "stimuli": str(listening / "stimuli.csv"),
        },
    }
    # the whole config, not an overlay: Snakemake's merge cannot remove `folds`
    (work / "mine.yaml").write_text(yaml.safe_dump({**paper, **overlay}, allow_unicode=True))
    jobs = planned(work, "--configfile", "mine.yaml")
    assert not any(rule.startswith("demo_") for rule in jobs), jobs
    assert jobs["scan_corpus"] == 5 and jobs["make_splits"] == 3
    # the study's layer-wise grid: W2V2-CN and W2V2-DE on all three SER corpora, W2V2-EN on IEMOCAP
    assert jobs["extract_features"] == 3 + 3 + 1
    assert jobs["probe_layers"] == 5 + 5 + 1  # every setting for CN and DE, EN mono only
    # Table I: 8 experiments x 2 fine-tuned strategies (LoRA, LoRA+BA+WG) x 5 folds, plus two_stage
    # for the two pairs the study ran (W2V2-CN on DE, W2V2-DE on CN); the no-PEFT column is the
    # layer-wise probe's (peft.table1.no_peft: probe), so no frozen fine-tune runs
    assert paper["peft"]["table1"]["no_peft"] == "probe" and "frozen" not in paper["peft"]["strategies"]
    assert jobs[FINETUNE] == 8 * 2 + 2  # each trains the 5 folds together
    assert jobs["diarize"] == 1 and jobs["report_html"] == 1


# ---- a finished run re-plans only what changed (issue: one resolved configuration)


def _merged_demo_config(work: Path) -> dict:
    """config/config.yaml with tests/e2e.yaml merged in, as Snakemake merges them."""
    import yaml

    def merge(a: dict, b: dict) -> dict:
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    return merge(
        yaml.safe_load((work / "config/config.yaml").read_text()),
        yaml.safe_load((work / "tests/e2e.yaml").read_text()) or {},
    )


# what fine-tuning jobs feed: Table I, Table III's model panels (human.table3.strategy), the report
GATHER = {
    FINETUNE,
    "table1_peft",
    "table1",
    "table3_confusions",
    "table3",
    "cost_table",
    "report_html",
    "report",
    "all",
}


def _plan_with(work: Path, cfg: dict, name: str) -> dict[str, int]:
    import yaml

    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return planned(work, "--configfile", path.name)


@pytest.mark.e2e
def test_same_config_with_sorted_keys_plans_nothing(demo_run: Path) -> None:
    """The same settings in another key order and another file re-run no computation; only the
    report, whose title block names the config files it was made from, is made again."""
    import yaml

    cfg = _merged_demo_config(demo_run)
    assert planned(demo_run, "--configfile", "config/config.yaml", "tests/e2e.yaml") == {}
    (demo_run / "sorted.yaml").write_text(yaml.safe_dump(cfg, sort_keys=True))
    assert list(cfg) != sorted(cfg)  # the demo config is not written in sorted order
    assert planned(demo_run, "--configfile", "sorted.yaml") == {"report_html": 1, "all": 1}


@pytest.mark.e2e
def test_finished_run_moved_to_another_folder_plans_nothing(demo_run: Path, tmp_path: Path) -> None:
    import shutil

    moved = tmp_path / "elsewhere" / "xlser"
    shutil.copytree(demo_run, moved, symlinks=True)
    assert planned(moved, "--configfile", "config/config.yaml", "tests/e2e.yaml") == {}


@pytest.mark.e2e
def test_one_more_peft_experiment_plans_only_its_own_finetunes(demo_run: Path) -> None:
    cfg = _merged_demo_config(demo_run)
    cfg["peft"]["experiments"].append({"model": "W2V2-DE", "train": "DEMO-DE", "test": "DEMO-DE"})
    jobs = _plan_with(demo_run, cfg, "one_more")
    n_strategies = len([s for s in cfg["peft"]["strategies"] if s != "two_stage"])  # mono: no two_stage
    assert jobs.get(FINETUNE) == n_strategies, jobs  # one stacked job per strategy, all its folds
    # Table III gathers it too: W2V2-DE on DEMO-DE is the DE listeners' model panel
    assert set(jobs) <= GATHER, jobs


@pytest.mark.e2e
def test_one_strategys_hyper_parameter_replans_that_strategy_only(demo_run: Path) -> None:
    cfg = _merged_demo_config(demo_run)
    import copy

    from xlser.config import resolve

    cfg["peft"]["adapter"] = {**cfg["peft"]["adapter"], "reduction": 8}
    jobs = _plan_with(demo_run, cfg, "adapter8")
    # only the strategies with bottleneck adapters: lora+ba+wg and two_stage (which fine-tunes it)
    with_adapters = [j for j in resolve(copy.deepcopy(cfg)).peft_jobs if j.strategy in ("lora+ba+wg", "two_stage")]
    assert 0 < len(with_adapters) < len(resolve(copy.deepcopy(cfg)).peft_jobs)
    assert jobs.get(FINETUNE) == len({(j.experiment, j.strategy) for j in with_adapters}), jobs
    assert set(jobs) <= GATHER, jobs  # Table III's model panels are lora+ba+wg fold models


@pytest.mark.e2e
def test_probe_lr_replans_probes_and_what_follows_never_features(demo_run: Path) -> None:
    cfg = _merged_demo_config(demo_run)
    cfg["probe"]["lr"] = cfg["probe"]["lr"] * 2
    jobs = _plan_with(demo_run, cfg, "probe_lr")
    assert "probe_layers" in jobs and "layerwise_summary" in jobs
    assert not (
        {"extract_features", "scan_corpus", "resample_corpus", "make_splits", "demo_model", "demo_corpus"} & set(jobs)
    ), jobs


@pytest.mark.e2e
def test_listening_only_config_runs_table2_and_the_t_tests(demo_run: Path, tmp_path: Path) -> None:
    """No `models`, `peft` or `sed`: the human tables and the t-tests plan and run."""
    import shutil

    import pandas as pd

    work = tmp_path / "listening_only"
    shutil.copytree(demo_run, work, symlinks=True)
    cfg = _merged_demo_config(work)
    for key in ("models", "peft", "sed", "probe", "features"):
        cfg.pop(key, None)
    cfg["demo"].pop("models", None)
    cfg["corpora"].pop("DEMO-ZED")
    cfg["demo"]["corpora"].pop("DEMO-ZED")
    cfg["human"]["responses"] = []
    jobs = _plan_with(work, cfg, "listening")
    assert {"table2_human_ua", "welch_tests"} <= set(jobs), jobs
    assert not ({"extract_features", "probe_layers", "diarize", "finetune"} | PEFT) & set(jobs), jobs
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", "listening.yaml", "--cores", "2", "table2", "stats"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    table2 = pd.read_csv(work / "results/tables/table2_human_ua.csv")
    assert len(table2) > 0
    assert (work / "results/stats/welch_tests.csv").stat().st_size > 0


@pytest.mark.e2e
def test_reordered_emotions_replan_what_the_class_order_shapes_not_the_data(demo_run: Path) -> None:
    """Issue 31.5: the class order shapes splits, probes, fine-tunes and tables (class indices,
    rows and columns); the corpus scan, resampling and feature extraction depend only on which
    emotions are configured (their params hold the set, sorted), so they are not re-planned."""
    cfg = _merged_demo_config(demo_run)
    cfg["emotions"] = list(reversed(cfg["emotions"]))
    jobs = set(_plan_with(demo_run, cfg, "reordered"))
    assert {"make_splits", "probe_layers", "layerwise_summary", FINETUNE, "table1_peft", "table2_human_ua"} <= jobs
    assert not ({"scan_corpus", "resample_corpus", "extract_features", "demo_corpus", "demo_model"} & jobs), jobs
