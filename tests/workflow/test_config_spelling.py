"""Bad input, round 3 (issue 31), the config: one spelling of emotions and language codes
(compared in one normal form, shown as configured, or two names for one thing rejected with
both keys named), keys that silently did nothing rejected with what to use instead, and a
config file with a key given twice stopped with the file, the key and its lines."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_config_strict import merged
from test_reruns import planned

from conftest import ROOT, copy_workflow
from xlser.config import resolve, validate_config
from xlser.errors import ConfigError
from xlser.spelling import Spelling, fold, spell_config
from xlser.yamlcheck import check_file, duplicate_keys, load_strict

DEMO = yaml.safe_load((ROOT / "config/config.yaml").read_text())
PAPER = yaml.safe_load((ROOT / "config/paper.yaml").read_text())


def test_the_normal_form() -> None:
    assert fold(" Angry ") == fold("ANGRY") == fold("angry") == fold("Ａｎｇｒｙ") == "angry"
    assert fold("Very\t Angry") == "very angry" and fold("é") == fold("e\u0301")
    spell = Spelling(["Angry", "Sad"])
    assert spell("angry ") == "Angry" and spell("glad") is None and "SAD" in spell


# ---- 1: one spelling


def test_emotions_spelled_otherwise_elsewhere_become_the_configured_names() -> None:
    cfg = merged(
        DEMO,
        {
            "emotions": ["Angry", "Happy", "Neutral", "Sad"],
            "corpora": {"DEMO-TJ": {"label_map": {"negation": "ANGRY", "expectation": "happy", "question": "neutral"}}},
            "sed": {"emotions": ["angry", " HAPPY", "sad"]},
        },
    )
    S = resolve(cfg)
    assert S.emotions == ("Angry", "Happy", "Neutral", "Sad") and S.sed.emotions == ("Angry", "Happy", "Sad")
    assert S.corpora["DEMO-TJ"].spec["label_map"] == {
        "negation": "Angry",
        "expectation": "Happy",
        "question": "Neutral",
        "sad": "Sad",
    }
    assert dict(S.human.tests["ser_demo_cn"]["labels"]) == {
        "Angry": "生气",
        "Happy": "高兴",
        "Neutral": "中性",
        "Sad": "伤心",
    }


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"emotions": ["angry", "happy", "Angry"]}, r"config emotions\[2\]: emotion 'Angry' is emotions\[0\] 'angry'"),
        ({"emotions": ["angry", " ", "sad"]}, r"config emotions\[1\]: an empty emotion name"),
        (
            {"corpora": {"DEMO-TJ": {"label_map": {"negation": "angry", "Negation ": "sad"}}}},
            r"config corpora\.DEMO-TJ\.label_map\.Negation : the label 'Negation ' is corpora\.DEMO-TJ\.label_map\."
            r"negation again",
        ),
        (
            {"corpora": {"DEMO-TJ": {"label_map": {"negation": "furious"}}}},
            r"config corpora\.DEMO-TJ\.label_map\.negation: 'furious' is not one of emotions",
        ),
        (
            {"sed": {"emotions": ["angry", "ANGRY"]}},
            r"config sed\.emotions\[1\]: emotion 'angry' is sed\.emotions\[0\]",
        ),
        ({"sed": {"emotions": ["angry", "fear"]}}, r"config sed\.emotions\[1\]: 'fear' is not one of emotions"),
        (
            {"human": {"tests": [{"id": "t", "labels": {"angry": "wütend", "furious": "x"}}]}},
            r"config human\.tests\[0\]\.labels\.furious: 'furious' is not one of emotions",
        ),
        (
            {"human": {"tests": [{"id": "t", "labels": {"angry": "a", "ANGRY": "b"}}]}},
            r"config human\.tests\[0\]\.labels\.ANGRY: emotion 'angry' is labelled twice",
        ),
        ({"corpora": {"DEMO-CN": {"lang": "  "}}}, r"config corpora\.DEMO-CN\.lang: an empty language code"),
        (
            {"human": {"tests": [{"id": "t", "corpora": ["DEMO-CN", "DEMO-ZED"]}]}},
            r"config human\.tests\[0\]\.corpora\[1\]: 'DEMO-ZED' names no corpus with listening stimuli",
        ),
    ],
)
def test_two_spellings_of_one_name_are_an_error_naming_the_keys(overlay: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(merged(DEMO, overlay))


def _plan(cfg: dict) -> tuple:
    S = resolve(copy.deepcopy(cfg))
    return (
        [(e.model, e.train, e.test, e.setting) for e in S.experiments],
        [(j.experiment.setting, j.experiment.model, j.experiment.train, j.strategy, j.fold) for j in S.peft_jobs],
        {m: S.source_corpus(m) for m in S.models},
    )


@pytest.mark.parametrize(
    "langs",
    [
        {"corpora": {"ESD": "cn"}},  # the case: `cn` on the corpus, `CN` on the model
        {"models": {"W2V2-CN": "cn"}},
        {"corpora": {"ESD": "Cn", "PAVOQUE": "de"}, "models": {"W2V2-DE": " DE ", "W2V2-EN": "en"}},
    ],
)
def test_a_language_code_in_another_case_plans_the_same_settings(langs: dict) -> None:
    cfg = copy.deepcopy(PAPER)
    for section, names in langs.items():
        for name, code in names.items():
            cfg[section][name]["lang"] = code
    assert _plan(cfg) == _plan(PAPER)
    # grid too: every mono, cross and trans triple
    assert _plan({**cfg, "experiments": "grid"}) == _plan({**PAPER, "experiments": "grid"})


def test_one_spelling_per_code_the_corpora_s_whatever_the_key_order() -> None:
    cfg = copy.deepcopy(PAPER)
    cfg["corpora"]["ESD"]["lang"], cfg["models"]["W2V2-CN"]["lang"] = "cn", "CN"
    cfg["human"]["tests"] = [{"id": "t", "groups": ["Cn", "de"]}]
    S = resolve(cfg)
    assert S.corpora["ESD"].lang == S.models["W2V2-CN"].lang == "cn"  # the corpus's spelling is shown
    assert list(S.human.tests["t"]["groups"]) == ["cn", "DE"]
    two = copy.deepcopy(PAPER)
    two["corpora"]["ESD"]["lang"], two["corpora"]["TJD"]["lang"] = "cn", "CN"
    assert {resolve(two).corpora[c].lang for c in ("ESD", "TJD")} == {"CN"}
    reordered = copy.deepcopy(two)
    reordered["corpora"] = dict(reversed(list(two["corpora"].items())))
    assert resolve(reordered).corpora["ESD"].lang == "CN"


def test_the_demo_and_the_study_configs_are_already_in_one_spelling() -> None:
    for cfg in (DEMO, PAPER):
        before = copy.deepcopy(cfg)
        after = copy.deepcopy(cfg)
        spell_config(after)
        assert after == before


# ---- keys that did nothing


@pytest.mark.parametrize(
    ("overlay", "key", "instead"),
    [
        ({"corpora": {"DEMO-DE": {"styles": {"Spike": "angry"}}}}, "corpora.DEMO-DE.styles", "label_map"),
        ({"resample": {"workers": 8}}, "resample.workers", "--set-threads resample_corpus=N"),
    ],
)
def test_a_key_nothing_reads_is_an_error_saying_what_to_use(overlay: dict, key: str, instead: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(merged(DEMO, overlay))
    assert f"config {key}: " in str(info.value) and instead in str(info.value), str(info.value)


# ---- 4: the config as written


def test_duplicate_keys_are_found_with_their_lines(tmp_path: Path) -> None:
    text = "emotions: [angry, sad]\ncorpora:\n  A: {format: esd, root: x, lang: CN}\n  A: {format: csv}\n"
    text += "peft:\n  lr: 1.0e-4\n  experiments:\n    - {model: m, train: A, test: A, test: B}\nemotions: [x]\n"
    assert duplicate_keys(text) == [("corpora.A", 4, 3), ("peft.experiments[0].test", 8, 8), ("emotions", 9, 1)]
    assert duplicate_keys("a: &x {b: 1}\nc:\n  <<: *x\n  <<: *x\n") == []  # merge keys are not keys
    f = tmp_path / "mine.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=rf"{f}, line 4: key 'corpora\.A' is given twice \(first at line 3\)"):
        check_file(f)
    with pytest.raises(ConfigError, match=r"line 9: key 'emotions'"):
        load_strict(f)
    f.write_text("a: 1\nb: {a: 2}\n")
    assert load_strict(f) == {"a": 1, "b": {"a": 2}}


def test_shipped_configs_hold_no_key_twice() -> None:
    shipped = ["config/config.yaml", "config/paper.yaml", "config/rehearsal.yaml", "tests/e2e.yaml"]
    for name in [*shipped, *(str(p.relative_to(ROOT)) for p in ROOT.glob("profiles/*/config*.yaml"))]:
        check_file(ROOT / name)


@pytest.mark.parametrize("where", ["overlay", "default"])
def test_snakemake_stops_on_a_key_given_twice(tmp_path: Path, where: str) -> None:
    """Snakemake keeps the last of two equal keys; the workflow reads the files it was given
    (`--configfile`s, and the default config/config.yaml) strictly before it resolves them."""
    work = copy_workflow(tmp_path)
    if where == "overlay":
        (work / "mine.yaml").write_text("probe:\n  lr: 1.0e-3\n  head: mlp\n  lr: 1.0e-4\n")
        args, file, line = ["--configfile", "config/config.yaml", "mine.yaml"], "mine.yaml", 4
    else:
        text = (work / "config/config.yaml").read_text()
        (work / "config/config.yaml").write_text(text + "sample_rate: 8000\n")
        args, file, line = [], "config/config.yaml", len(text.splitlines()) + 1
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *args], cwd=work, capture_output=True, text=True, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert f"{file}, line {line}: key '" in out and "is given twice" in out, out[-3000:]


def test_snakemake_plans_the_same_with_a_language_code_in_another_case(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    (work / "cn.yaml").write_text("corpora:\n  DEMO-CN: {lang: cn}\nmodels:\n  W2V2-DE: {lang: de}\n")
    base = planned(work, "--configfile", "config/config.yaml")
    assert planned(work, "--configfile", "config/config.yaml", "cn.yaml") == base
