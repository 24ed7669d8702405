"""Every section of the config rejects unknown keys: a typo is an error naming the key and
where it is, not a silent default."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from conftest import ROOT, copy_workflow
from xlser.config import validate_config
from xlser.errors import ConfigError

DEMO = yaml.safe_load((ROOT / "config/config.yaml").read_text())
PAPER = yaml.safe_load((ROOT / "config/paper.yaml").read_text())


def merged(base: dict, overlay: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def test_shipped_configs_are_valid() -> None:
    for cfg in (DEMO, PAPER, merged(DEMO, yaml.safe_load((ROOT / "tests/e2e.yaml").read_text()))):
        validate_config(copy.deepcopy(cfg))


# (overlay, where, key): the typos, and one per other strict section
TYPOS = [
    ({"peft": {"max_epoch": 3}}, "peft", "max_epoch"),
    ({"splitz": {"folds": 2}}, "<top level>", "splitz"),
    ({"probe": {"max_epoch": 3}}, "probe", "max_epoch"),
    ({"human": {"lenient_": True}}, "human", "lenient_"),
    ({"sed": {"models": {"WavLM-probe": {"layr": 2}}}}, "sed.models.WavLM-probe", "layr"),
    ({"sed": {"per_emotin": 4}}, "sed", "per_emotin"),
    ({"peft": {"lora": {"rank": 4}}}, "peft.lora", "rank"),
    ({"peft": {"adapter": {"reduce": 4}}}, "peft.adapter", "reduce"),
    ({"features": {"max_batch_second": 10.0}}, "features", "max_batch_second"),
    ({"resample": {"worker": 2}}, "resample", "worker"),
    ({"splits": {"fold": 2}}, "splits", "fold"),
    ({"corpora": {"DEMO-CN": {"speaker": ["0001"]}}}, "corpora.DEMO-CN", "speaker"),
    ({"demo": {"seeed": 1}}, "demo", "seeed"),
    ({"demo": {"corpora": {"DEMO-CN": {"speakrs": 2}}}}, "demo.corpora.DEMO-CN", "speakrs"),
    ({"demo": {"models": {"W2V2-CN": {"hidden": 8}}}}, "demo.models.W2V2-CN", "hidden"),
    ({"demo": {"listeners": {"per_grup": 2}}}, "demo.listeners", "per_grup"),
]


@pytest.mark.parametrize("overlay,where,key", TYPOS, ids=[t[2] for t in TYPOS])
def test_typo_is_an_error_naming_the_key(overlay: dict, where: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(merged(DEMO, overlay))
    msg = str(info.value)
    assert f"config {where}:" in msg and f"'{key}'" in msg, msg


def test_torch_threads_default_and_bounds() -> None:
    cfg = copy.deepcopy(DEMO)
    cfg.pop("torch_threads", None)
    validate_config(cfg)
    assert cfg["torch_threads"] == 1
    validate_config(merged(DEMO, {"torch_threads": 4}))
    with pytest.raises(ConfigError, match="torch_threads"):
        validate_config(merged(DEMO, {"torch_threads": 0}))


def test_label_map_may_drop_a_label_with_null() -> None:
    validate_config(merged(PAPER, {"corpora": {"ESD": {"strict": True, "label_map": {"Surprise": None}}}}))
    with pytest.raises(ConfigError, match="label_map"):
        validate_config(merged(PAPER, {"corpora": {"ESD": {"label_map": {"Surprise": 3}}}}))


def test_snakemake_stops_on_a_typo(tmp_path: Path) -> None:
    """The whole workflow refuses to plan, and says which key, with exit status != 0."""
    work = copy_workflow(tmp_path)
    (work / "typo.yaml").write_text("peft: {max_epoch: 3}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/config.yaml", "typo.yaml"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "max_epoch" in out and "config peft" in out, out[-3000:]


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"sed": {"corpus": "ZEDD"}}, r"config sed\.corpus: 'ZEDD' names no corpus"),
        (
            {"experiments": [{"model": "W2V2-XX", "train": "ESD", "test": "ESD"}]},
            r"config experiments\[0\]\.model: 'W2V2-XX' names no model",
        ),
        (
            {"peft": {"experiments": [{"model": "W2V2-CN", "train": "TJD", "test": "TJD"}]}},
            r"config peft\.experiments\[0\]\.train: 'TJD' names no corpus with role ser",
        ),
        (
            {"peft": {"two_stage": {"experiments": [{"model": "W2V2-CN", "train": "ESD", "test": "ESD"}]}}},
            r"config peft\.two_stage\.experiments\[0\]: .* is not a trans-lingual experiment",
        ),
        ({"peft": {"folds": [0, 7]}}, r"config peft\.folds\[1\]: fold 7 does not exist"),
        (
            {"sed": {"models": {"WavLM": {"backend": "probe", "source": "x", "train_corpora": ["ESDD"]}}}},
            r"config sed\.models\.WavLM\.train_corpora\[0\]: 'ESDD' names no corpus",
        ),
    ],
)
def test_references_between_sections_name_the_key(overlay: dict, message: str) -> None:
    from xlser.config import resolve

    with pytest.raises(ConfigError, match=message):
        resolve(merged(PAPER, overlay))
