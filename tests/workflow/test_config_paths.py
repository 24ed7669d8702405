"""Placeholders and missing paths are config errors before any plan (issue 23, item 11):
every offending key named at once, with its value and what to put there."""

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
from xlser.config import check_paths, looks_like_path, validate_config
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


def test_snakemake_stops_on_the_shipped_paper_yaml_before_planning(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/paper.yaml"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for key in PAPER_KEYS:
        assert f"config {key}: '/path/to/" in out, key
    assert "Building DAG" not in out and "Job stats" not in out, out[-3000:]
