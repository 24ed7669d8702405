"""Placeholders and missing paths are config errors before any job runs (issue 23, item 11),
for the jobs the requested targets need (issue 30): every offending key of those jobs named at
once, with its value and what to put there; the sections no planned job reads may stay
placeholders (listed once, as a warning)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from paper_paths import paper_overlay

from conftest import ROOT, copy_workflow
from fixtures_corpora import csv_tree, esd_tree, header_only_fold_lists, iemocap_tree, pavoque_tree, zed_tree
from xlser.config import check_paths, looks_like_path, resolve, validate_config
from xlser.errors import ConfigError

PAPER = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
# every path the shipped study config leaves to the user
PAPER_KEYS = [
    "corpora.ESD.root",
    "corpora.PAVOQUE.root",
    "corpora.IEMOCAP.root",
    "corpora.ZED.root",
    "corpora.TJD.root",
    "human.listeners",
    "human.webmushra[0]",
    "human.webmushra[1]",
    "human.responses[0]",
]


def problems(cfg: dict, **kw) -> list[str]:
    """The lines of check_paths' error ([] when it passes)."""
    try:
        check_paths(cfg, **kw)
    except ConfigError as e:
        return str(e).splitlines()[1:]
    return []


def filled(tmp_path: Path) -> dict:
    """paper.yaml with every placeholder pointed at an existing folder or file."""
    overlay = yaml.safe_load(paper_overlay(tmp_path).read_text())
    cfg = copy.deepcopy(PAPER)
    cfg["corpora"], cfg["human"] = overlay["corpora"], overlay["human"]
    return cfg


def test_shipped_paper_yaml_names_every_placeholder_and_what_to_do() -> None:
    lines = problems(copy.deepcopy(PAPER))
    keys = [line.split(":", 1)[0].removeprefix("  config ").strip() for line in lines]
    folds = [f"corpora.{c}.folds" for c in PAPER["corpora"] if "folds" in PAPER["corpora"][c]]
    assert sorted(keys) == sorted(PAPER_KEYS + folds)
    root = next(line for line in lines if "corpora.ESD.root:" in line)
    assert "'/path/to/ESD' is a placeholder; set it to the corpus folder" in root
    assert "lss.csv" in next(line for line in lines if "human.webmushra[1]:" in line)


def test_filled_paper_yaml_passes_and_hub_ids_are_not_checked(tmp_path: Path) -> None:
    cfg = filled(tmp_path)
    assert cfg["models"]["W2V2-CN"]["source"] == "TencentGameMate/chinese-wav2vec2-base"  # no such folder here
    assert problems(cfg) == []


@pytest.mark.parametrize(
    ("edit", "key", "says"),
    [
        (lambda c, t: c["corpora"]["ESD"].update(root=str(t / "nowhere")), "corpora.ESD.root", "does not exist"),
        (
            lambda c, t: c["corpora"]["ZED"].update(root=str(t / "listening/listeners.csv")),
            "corpora.ZED.root",
            "is a file; set it to the corpus folder",
        ),
        (
            lambda c, t: c["corpora"]["ESD"].update(folds=str(t / "split_id/none")),
            "corpora.ESD.folds",
            "does not exist",
        ),
        (lambda c, t: c["human"].update(listeners=str(t / "listening")), "human.listeners", "is a folder"),
        (lambda c, t: (t / "listening/ser_de/lss.csv").unlink(), "human.webmushra[1]", "holds no lss.csv"),
        (lambda c, t: c["human"].update(stimuli=str(t / "stimuli.csv")), "human.stimuli", "does not exist"),
        (lambda c, t: c["sed"].update(subset="~/no/such/subset.csv"), "sed.subset", "does not exist"),
        (
            lambda c, t: c["models"]["W2V2-EN"].update(source=str(t / "ckpt/w2v2-en")),
            "models.W2V2-EN.source",
            "set it to a local checkpoint folder",
        ),
        (
            lambda c, t: c["sed"]["models"]["WavLM"].update(source="./ckpt/wavlm"),
            "sed.models.WavLM.source",
            "does not exist",
        ),
        (
            lambda c, t: c["human"]["tests"][0].update(question="/path/to/question"),
            "human.tests[0].question",
            "is a placeholder",
        ),
    ],
)
def test_each_missing_path_is_named(tmp_path: Path, edit, key: str, says: str) -> None:
    cfg = filled(tmp_path)
    edit(cfg, tmp_path)
    lines = problems(cfg)
    assert len(lines) == 1 and f"config {key}: " in lines[0] and says in lines[0], lines


def test_relative_paths_are_read_from_the_working_folder_and_made_paths_skipped(tmp_path: Path) -> None:
    cfg = filled(tmp_path)
    cfg["corpora"]["ESD"]["root"] = "ESD"  # relative: tmp_path/ESD exists
    assert problems(cfg, base=str(tmp_path)) == []
    assert [line.split(":")[0].strip() for line in problems(cfg, base=str(tmp_path / "listening"))] == [
        "config corpora.ESD.root"
    ]
    cfg["corpora"]["ESD"]["root"] = "resources/demo/corpora/ESD"  # made by the demo's own rule
    assert problems(cfg, base=str(tmp_path), produced=["resources/demo/corpora/ESD/"]) == []


def test_what_looks_like_a_checkpoint_folder() -> None:
    for hub in ("facebook/wav2vec2-base-960h", "speechbrain/emotion-diarization-wavlm-large", "wav2vec2-base"):
        assert not looks_like_path(hub), hub
    for path in ("/models/w2v2", "./w2v2", "../w2v2", "~/w2v2", "resources/demo/models/W2V2-CN", "a/b/c/"):
        assert looks_like_path(path), path


def test_demo_config_has_no_path_to_check_before_its_run() -> None:
    """Its corpora, models and listeners are made by its own rules (the Snakefile passes them)."""
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    validate_config(cfg)
    made = [c["root"] for c in cfg["corpora"].values()] + [f"resources/demo/models/{m}" for m in cfg["demo"]["models"]]
    made += [cfg["human"]["listeners"], *cfg["human"]["webmushra"], cfg["human"]["responses"][0]]
    assert problems(copy.deepcopy(cfg), produced=made, base="/nonexistent") == []
    assert len(problems(copy.deepcopy(cfg), base="/nonexistent")) == len(made)


def test_settings_check_only_the_paths_under_the_keys_a_job_reads() -> None:
    """What the input functions ask (workflow/rules/common.smk: require_paths): one job's keys."""
    cfg = copy.deepcopy(PAPER)
    s = resolve(cfg)
    assert sorted(s.path_problems) == sorted(PAPER_KEYS + [f"corpora.{c}.folds" for c in ("ESD", "PAVOQUE", "IEMOCAP")])
    scan = s.check_paths("corpora.ESD", but_not=["corpora.ESD.folds"])
    assert len(scan) == 1 and scan[0].startswith("config corpora.ESD.root: '/path/to/ESD' is a placeholder")
    assert [line.split(":")[0] for line in s.check_paths("human", but_not=["human.tests"])] == [
        "config human.listeners",
        "config human.webmushra[0]",
        "config human.webmushra[1]",
        "config human.responses[0]",
    ]
    assert s.check_paths("corpora.E") == [] and s.check_paths("human.tests[0]", "models", "sed") == []
    # the same filter on the plain function; and keys=None is everything
    with pytest.raises(ConfigError, match=r"^1 path\(s\).*\n  config corpora.TJD.root: '/path/to/TJD'"):
        check_paths(copy.deepcopy(PAPER), keys=["corpora.TJD"])
    assert len(problems(copy.deepcopy(PAPER))) == len(s.path_problems)


def _work(tmp_path: Path) -> Path:
    (tmp_path / "w").mkdir()
    return copy_workflow(tmp_path / "w")


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *args], cwd=work, capture_output=True, text=True, timeout=300
    )


def test_snakemake_stops_on_the_shipped_paper_yaml_before_any_job(tmp_path: Path) -> None:
    """The default target needs every section: every path named at once, while planning."""
    work = copy_workflow(tmp_path)
    proc = _snakemake(work, "--configfile", "config/paper.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    error = out[out.index("Building DAG") :]
    for key in PAPER_KEYS:
        assert f"config {key}: '/path/to/" in out.split("Building DAG")[0], key  # the start-up warning
        assert f"config {key}: '/path/to/" in error, key  # the error: the jobs of `all` read them all
    assert "that the jobs of these results read" in error
    assert "Job stats" not in out, out[-3000:]


def test_one_corpus_filled_in_plans_its_manifest_and_its_splits_name_only_its_fold_lists(tmp_path: Path) -> None:
    """paper.yaml with only ESD's root filled in (a tree in ESD's real layout): its manifest plans;
    its splits stop on the one key they read that is still a placeholder, corpora.ESD.folds."""
    work = _work(tmp_path)
    root = esd_tree(tmp_path / "ESD", speakers=tuple(f"{i:04d}" for i in range(1, 11)), per_emotion=1)
    overlay = tmp_path / "esd.yaml"
    overlay.write_text(yaml.safe_dump({"corpora": {"ESD": {"root": str(root)}}}))
    files = ["--configfile", "config/paper.yaml", str(overlay)]
    proc = _snakemake(work, "results/corpora/ESD/manifest.csv", *files)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "scan_corpus" in proc.stdout and "resample_corpus" in proc.stdout
    proc = _snakemake(work, "results/splits/ESD.csv", *files)
    out = proc.stdout + proc.stderr
    error = out[out.index("Building DAG") :]
    assert proc.returncode != 0 and "1 path(s) to fill in or fix in the config that this job reads" in error, out
    assert [line.split(":")[0].strip() for line in error.splitlines() if line.strip().startswith("config ")] == [
        "config corpora.ESD.folds"
    ]
    assert "'/path/to/split_id/CN_ESD' is a placeholder; set it to the study's fold lists" in error


def test_listening_kit_plans_before_its_answers_exist(tmp_path: Path) -> None:
    """The docs' order: build the kits, install them, let listeners answer, then the tables. The
    answers' folders are named in human.webmushra before webMUSHRA writes them: the kit plans,
    the tables that read the answers name them."""
    work = _work(tmp_path)
    data = tmp_path / "data"
    corpora = {
        "ESD": {"root": str(esd_tree(data / "ESD", speakers=tuple(f"{i:04d}" for i in range(1, 11)), per_emotion=1))},
        "PAVOQUE": {"root": str(pavoque_tree(data / "PAVOQUE"))},
        "IEMOCAP": {"root": str(iemocap_tree(data / "IEMOCAP"))},
        "TJD": {"root": str(csv_tree(data / "TJD"))},
        "ZED": {"root": str(zed_tree(data / "ZED"))},  # its manifest: the segment answers' utterances
    }
    for name, folder in header_only_fold_lists(data).items():
        corpora[name]["folds"] = folder
    later = tmp_path / "webmushra/results"  # webMUSHRA writes these when listeners answer
    human = {
        "listeners": str(data / "listeners.csv"),
        "webmushra": [str(later / "ser_cn"), str(later / "ser_de")],
        "responses": [],
    }
    overlay = tmp_path / "paths.yaml"
    overlay.write_text(yaml.safe_dump({"corpora": corpora, "human": human}))
    files = ["--configfile", "config/paper.yaml", str(overlay)]
    proc = _snakemake(work, "listening_kit", *files)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "build_listening_kit" in proc.stdout and "ingest_listening_test" not in proc.stdout
    assert "config human.webmushra[0]:" in proc.stdout + proc.stderr  # warned, not stopped
    proc = _snakemake(work, "stats", *files)
    error = (proc.stdout + proc.stderr).split("Building DAG")[1]
    assert proc.returncode != 0
    assert [line.split(":")[0].strip() for line in error.splitlines() if line.strip().startswith("config ")] == [
        "config human.listeners",
        "config human.webmushra[0]",
        "config human.webmushra[1]",
    ]
    assert f"config human.webmushra[0]: '{later / 'ser_cn'}' does not exist" in error
