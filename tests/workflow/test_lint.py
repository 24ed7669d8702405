"""`snakemake --lint`, snakefmt and ruff are clean (demo and study configs), and the default profile is sane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("configfile", [None, "config/paper.yaml"])
def test_lint_is_clean(configfile: str | None, tmp_path: Path) -> None:
    from paper_paths import paper_overlay

    cmd = [sys.executable, "-m", "snakemake", "--lint"]
    if configfile:  # its /path/to placeholders filled in: they stop the workflow before it plans
        cmd += ["--configfile", configfile, str(paper_overlay(tmp_path))]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Lints for" not in out, out[-4000:]
    assert "in a good condition" in out


def test_snakefmt_is_clean() -> None:
    """Every Snakefile of the workflow is formatted as snakefmt would (line length: pyproject.toml)."""
    snakefmt = Path(sys.executable).parent / "snakefmt"
    proc = subprocess.run(
        [str(snakefmt), "--check", "Snakefile", "workflow/"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(args: list[str]) -> None:
    """The Python is ruff-clean and ruff-formatted (settings: pyproject.toml)."""
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), *args, "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def test_default_profile_reruns_on_params_and_code() -> None:
    prof = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    assert {"mtime", "params", "input", "code", "software-env"} <= set(prof["rerun-triggers"])
    assert "executor" not in prof  # local runs


def test_paper_config_is_the_study_and_has_no_demo() -> None:
    from xlser.config import resolve

    cfg = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    settings = resolve(cfg)  # validates and fills in the schema's defaults
    assert "demo" not in cfg
    assert cfg["splits"] | {} == {
        **cfg["splits"],
        "train_per_emotion": 400,
        "val": 200,
        "test": 200,
        "folds": 5,
        "listening_per_emotion": 12,
    }
    assert cfg["models"]["W2V2-CN"]["source"] == "TencentGameMate/chinese-wav2vec2-base"
    assert cfg["models"]["W2V2-DE"]["source"] == "facebook/wav2vec2-base-de-voxpopuli-v2"
    assert cfg["models"]["W2V2-EN"]["source"] == "facebook/wav2vec2-base-960h"
    assert [cfg["probe"][k] for k in ("lr", "eps", "weight_decay", "batch_size", "max_epochs", "patience")] == [
        1e-4,
        1e-8,
        1e-5,
        32,
        100,
        10,
    ]
    assert cfg["peft"]["batch_size"] == 1  # one step per utterance, as the study's code (its text says 16)
    assert cfg["peft"]["lora"] == {"r": 8, "alpha": 16, "dropout": 0.1}
    assert cfg["peft"]["adapter"]["reduction"] == 16
    # Table I's experiments, with the settings the study printed
    import pandas as pd

    study = pd.read_csv(ROOT / "src/xlser/data/study_table1.csv")
    lang_corpus = {v["lang"]: k for k, v in cfg["corpora"].items() if v.get("role", "ser") == "ser"}
    want = {(r.model, lang_corpus[r.source], lang_corpus[r.target], r.setting) for r in study.itertuples()}
    got = {(e.model, e.train, e.test, e.setting) for e in settings.peft_experiments}
    assert got == want
    # the study's layer-wise grid: W2V2-CN and W2V2-DE in every setting, W2V2-EN monolingual only
    grid = {(e.model, e.setting) for e in settings.experiments}
    assert {m for m, s in grid if s != "mono"} == {"W2V2-CN", "W2V2-DE"}
    assert len(settings.experiments) == 5 + 5 + 1
    wavlm = cfg["sed"]["models"]["WavLM"]  # resolve() filled in the schema's defaults
    assert (wavlm["backend"], wavlm["source"]) == ("speechbrain", "speechbrain/emotion-diarization-wavlm-large")
    assert cfg["sed"]["corpus"] == "ZED" and cfg["sed"]["per_emotion"] == 8
    assert cfg["corpora"]["TJD"]["label_map"]["negation"] == "angry"
