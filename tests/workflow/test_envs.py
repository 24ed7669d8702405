"""Every rule names its conda env, log and benchmark; every env parses and pins exactly
what pyproject.toml pins (no drift between .venv and the conda envs)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENVS = sorted((ROOT / "envs").glob("*.yaml"))
# Rules that run no code of their own (aggregating targets) need no env/log/benchmark.
_RULE = re.compile(r"^(?P<ind>[ \t]*)rule (?P<name>\w+):\n(?P<body>(?:(?P=ind)[ \t]+.*\n|\n)*)", re.M)


def _pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = {}
    for dep in data["project"]["dependencies"]:
        name, _, version = dep.partition("==")
        assert version, f"pyproject dependency {dep!r} is not pinned exactly"
        pins[name.lower()] = version
    return pins


def _rules() -> dict[str, str]:
    out = {}
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = path.read_text() + "\n"
        for m in _RULE.finditer(text):
            out[m.group("name")] = m.group("body")
    return out


def test_rule_parser_finds_the_stages() -> None:
    rules = _rules()
    for name in (
        "scan_corpus",
        "extract_features",
        "probe_layers",
        "finetune",
        "finetune_stacked",
        "diarize",
        "report_html",
        "demo_listeners",
    ):
        assert name in rules


def test_every_rule_that_runs_code_has_conda_log_benchmark() -> None:
    missing = []
    for name, body in _rules().items():
        runs_code = re.search(r"^\s+(script|shell|run|notebook|wrapper):", body, re.M)
        if not runs_code:
            continue
        for key in ("conda", "log", "benchmark"):
            if not re.search(rf"^\s+{key}:", body, re.M):
                missing.append(f"{name}: {key}")
    assert not missing, missing


def test_rules_reference_existing_env_files() -> None:
    common = (ROOT / "workflow/rules/common.smk").read_text()
    groups = re.search(r'ENV = \{g: f"\.\./\.\./envs/\{g\}\.yaml" for g in \(([^)]*)\)\}', common)
    assert groups, "ENV mapping in common.smk changed shape"
    names = re.findall(r'"(\w+)"', groups.group(1))
    assert sorted(names) == sorted(p.stem for p in ENVS)
    used = set()
    for path in (ROOT / "workflow/rules").glob("*.smk"):
        used |= set(re.findall(r'ENV\["(\w+)"\]', path.read_text()))
    assert used <= set(names), used - set(names)


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.stem)
def test_env_parses_and_pins_match_pyproject(env: Path) -> None:
    spec = yaml.safe_load(env.read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    deps = spec["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    pins = _pyproject_pins()
    seen = set()
    for line in pip:
        name, sep, version = line.partition("==")
        assert sep, f"{env.name}: {line!r} is not an exact pin"
        assert name.lower() in pins, f"{env.name}: {name} is not in pyproject.toml"
        assert version == pins[name.lower()], f"{env.name}: {name}=={version}, pyproject has {pins[name.lower()]}"
        seen.add(name.lower())
    # every env can run a Snakemake script that imports xlser's shared modules
    for core in ("snakemake", "torch", "numpy", "pandas", "pyyaml", "soundfile", "scikit-learn"):
        assert core in seen, f"{env.name} lacks {core}"


def test_groups_have_what_their_stages_import() -> None:
    def pkgs(stem: str) -> set[str]:
        spec = yaml.safe_load((ROOT / "envs" / f"{stem}.yaml").read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        return {p.split("==")[0] for p in pip}

    assert {"transformers", "peft"} <= pkgs("gpu")
    assert {"speechbrain", "transformers"} <= pkgs("sed")
    assert {"statsmodels", "seaborn", "matplotlib"} <= pkgs("stats")
    assert "espeakng-loader" in pkgs("data")


def test_venv_has_the_pinned_versions() -> None:
    """The local .venv (used by `make test`/`make demo`) matches pyproject too."""
    from importlib.metadata import PackageNotFoundError, version

    wrong = []
    for name, pin in _pyproject_pins().items():
        try:
            have = version(name)
        except PackageNotFoundError:
            continue
        if have.split("+")[0] != pin:
            wrong.append(f"{name}: {have} != {pin}")
    assert not wrong, wrong
