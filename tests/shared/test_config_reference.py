"""Every config key is documented once, in the schema's `description`s, and config/README.md is
generated from them (xlser.config_reference, tools/config_reference.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from xlser.config_reference import kind, render, rows, type_and_default, undocumented
from xlser.contracts import load_schema

ROOT = Path(__file__).resolve().parents[2]


def test_every_schema_key_has_a_description() -> None:
    assert undocumented() == [], "schema keys without a description (src/xlser/schemas/config.schema.yaml)"


def test_config_readme_is_what_the_tool_writes() -> None:
    written = (ROOT / "config" / "README.md").read_text(encoding="utf-8")
    assert written == render(), "config/README.md is stale: run `python tools/config_reference.py`"


def test_tool_check_mode_agrees() -> None:
    proc = subprocess.run(
        [sys.executable, "tools/config_reference.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_a_key_without_description_is_named_with_its_path() -> None:
    schema = {
        "definitions": {"d": {"type": "object", "properties": {"x": {"type": "integer"}}}},
        "properties": {
            "a": {"type": "integer", "description": "documented"},
            "s": {
                "type": "object",
                "description": "a section",
                "properties": {"b": {"type": "string"}, "t": {"type": "array", "items": {"$ref": "#/definitions/d"}}},
            },
        },
    }
    assert undocumented(schema) == ["s.b", "s.t", "definitions.d.x"]


def test_types_bounds_defaults_and_nesting_are_rendered_from_the_schema() -> None:
    root = load_schema("config")
    props = root["properties"]
    assert type_and_default(props["torch_threads"], root, False) == "int ≥ 1, default `1`"
    assert type_and_default(props["device"], root, False) == "`auto` | `cpu` | `cuda`, default `auto`"
    assert kind(props["experiments"], root) == "`grid` or list of mapping"
    peft = props["peft"]
    keys = {k: n for k, n, _ in rows(peft, root)}
    assert type_and_default(keys["lr"], root, False) == "number > 0, default `1.0e-4`"  # from the shared optim keys
    assert type_and_default(keys["batch_size"], root, False) == "int ≥ 1, default `16`"  # peft's own default
    assert type_and_default(keys["grad_clip"], root, False) == "number > 0 or null, default `1.0`"
    assert "two_stage.experiments[].layer" in keys and "lora.dropout" in keys
    human = {k for k, _, _ in rows(props["human"], root)}
    assert {"tests[].id", "table3.combine", "min_answered"} <= human
    sed = {k for k, _, _ in rows(props["sed"], root)}
    assert "models.<name>.backend" in sed
    assert type_and_default(props["rehearsal"]["properties"]["scale"], root, True) == "number in (0, 1], required"
