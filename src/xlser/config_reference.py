"""config/README.md, generated from the config schema's `description`s.

Each config key is documented once, in `src/xlser/schemas/config.schema.yaml`: its type,
bounds and default are the schema's own keywords, its meaning the `description` beside them.
`render` turns the schema into the reference (one table per section, nested keys dotted:
`two_stage.schedule`, `tests[].id`, `models.<name>.backend`), so the reference cannot drift
from what the workflow validates; `undocumented` lists the keys that lack a description, so
a test can insist on one for every key. `tools/config_reference.py` writes or checks the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from xlser.contracts import load_schema

Schema = Mapping[str, Any]

HEADER = (
    "<!-- Generated from src/xlser/schemas/config.schema.yaml by tools/config_reference.py: edit the "
    "schema's descriptions there, then run `python tools/config_reference.py`. -->"
)


def _resolve(node: Schema, root: Schema) -> dict[str, Any]:
    """`node` with a local `$ref` merged in (the node's own keywords win; properties are merged)."""
    ref = node.get("$ref")
    if not ref:
        return dict(node)
    if not ref.startswith("#/"):
        raise ValueError(f"$ref '{ref}': only local references are supported")
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part]
    base = _resolve(target, root)
    out = {**base, **{k: v for k, v in node.items() if k != "$ref"}}
    if "properties" in base and "properties" in node:
        merged = dict(base["properties"])
        for name, sub in node["properties"].items():
            merged[name] = {**merged.get(name, {}), **sub}
        out["properties"] = merged
    return out


def _value(v: Any) -> str:
    """A default as it is written in YAML (floats with a dot: `1.0e-4`, as PyYAML needs)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        if v != 0 and not math.isinf(v) and abs(v) < 1e-3:
            mantissa, exp = f"{v:.1e}".split("e")
            return f"{mantissa}e{int(exp)}"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False) if v == "" or v.strip() != v else v
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _bounds(node: Schema) -> str:
    """` ≥ 1`, ` > 0`, ` in [0, 1]`, ` in (0, 1]`: the numeric keywords as one range."""
    lo, hi, xlo = node.get("minimum"), node.get("maximum"), node.get("exclusiveMinimum")
    if hi is not None and (lo is not None or xlo is not None):
        return f" in [{_value(lo)}, {_value(hi)}]" if lo is not None else f" in ({_value(xlo)}, {_value(hi)}]"
    parts = []
    if lo is not None:
        parts.append(f" ≥ {_value(lo)}")
    if "exclusiveMinimum" in node:
        parts.append(f" > {_value(node['exclusiveMinimum'])}")
    if hi is not None:
        parts.append(f" ≤ {_value(hi)}")
    return "".join(parts)


TYPE_NAMES = {"integer": "int", "number": "number", "boolean": "bool", "string": "string", "null": "null"}


def kind(node: Schema, root: Schema) -> str:
    """The type column: `int ≥ 1`, `` `a` | `b` ``, `list of string`, `map name -> ...`."""
    node = _resolve(node, root)
    if "enum" in node:
        return " | ".join(f"`{_value(v)}`" for v in node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node:
            return " or ".join(kind(alt, root) for alt in node[key])
    t = node.get("type")
    if isinstance(t, list):
        return " or ".join(TYPE_NAMES.get(x, x) + (_bounds(node) if x in ("integer", "number") else "") for x in t)
    if t == "array":
        items = node.get("items")
        return "list" if items is None else f"list of {kind(items, root)}"
    if t == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and "properties" not in node:
            return f"map name -> {kind(extra, root)}"
        return "mapping"
    if t == "string" and "pattern" in node:
        return f"string `{node['pattern']}`"
    return TYPE_NAMES.get(t, "any") + _bounds(node)


def type_and_default(node: Schema, root: Schema, required: bool) -> str:
    """`kind`, then `required` or `default <value>` where the schema says so."""
    text = kind(node, root)
    if required:
        return f"{text}, required"
    resolved = _resolve(node, root)
    default = resolved.get("default")
    if default is None or (default == {} and "properties" in resolved):  # {}: each sub-key's own default
        return text
    return f"{text}, default `{_value(default)}`"


def _properties(node: Schema, root: Schema) -> tuple[dict[str, Any], set[str]]:
    node = _resolve(node, root)
    return dict(node.get("properties", {})), set(node.get("required", ()))


def _children(node: Schema, root: Schema) -> tuple[str, Schema] | None:
    """Where a key's sub-keys are: its properties (`.`), its list items (`[].`), its map values
    (`.<name>.`); None for a leaf."""
    node = _resolve(node, root)
    if "properties" in node:
        return ".", node
    for alt in node.get("oneOf", ()):
        sub = _resolve(alt, root)
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            return "[].", sub["items"]
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        items = _resolve(node["items"], root)
        return ("[].", items) if "properties" in items else None
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and "properties" in _resolve(extra, root):
        return ".<name>.", extra
    return None


def rows(node: Schema, root: Schema, prefix: str = "") -> Iterator[tuple[str, Schema, bool]]:
    """(dotted key, its schema, required) for every key below `node`, depth first."""
    props, required = _properties(node, root)
    for name, sub in props.items():
        yield prefix + name, sub, name in required
        below = _children(sub, root)
        if below is not None:
            sep, child = below
            yield from rows(child, root, f"{prefix}{name}{sep}")


def undocumented(schema: Schema | None = None) -> list[str]:
    """Every key of the schema (definitions included) without a non-empty `description`."""
    root = load_schema("config") if schema is None else schema
    missing: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, where)
            return
        if not isinstance(node, dict):
            return
        for name, sub in (node.get("properties") or {}).items():
            if not str(sub.get("description", "")).strip():
                missing.append(f"{where}{name}")
            walk(sub, f"{where}{name}.")
        for key in ("definitions", "$defs"):
            for name, sub in (node.get(key) or {}).items():
                walk(sub, f"{where}{key}.{name}.")
        base = where[:-1] if where.endswith(".") else where
        walk(node.get("items"), f"{base}[]." if base else "")
        walk(node.get("additionalProperties"), f"{where}<name>.")
        for key in ("oneOf", "anyOf", "allOf"):
            walk(node.get(key), where)

    walk(root, "")
    return missing


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


TABLE_HEAD = ["| key | type / default | description |", "|---|---|---|"]


def _row(key: str, node: Schema, root: Schema, required: bool) -> str:
    return f"| `{key}` | {_cell(type_and_default(node, root, required))} | {_cell(node.get('description', ''))} |"


def _is_section(node: Schema, root: Schema) -> bool:
    return _children(node, root) is not None and _resolve(node, root).get("type") == "object"


def render(schema: Schema | None = None) -> str:
    """The whole reference: the schema's description, a table of the top-level keys (with their
    list items' keys), then one section per object-valued key: its title, description, table."""
    root = load_schema("config") if schema is None else schema
    props, required = _properties(root, root)
    out = [HEADER, "", f"# {root.get('title', 'Configuration')} reference", "", root.get("description", "").strip(), ""]
    out += ["## Top level", "", *TABLE_HEAD]
    for name, sub in props.items():
        if _is_section(sub, root):
            continue
        out.append(_row(name, sub, root, name in required))
        below = _children(sub, root)
        if below is not None:
            out += [_row(key, item, root, req) for key, item, req in rows(below[1], root, f"{name}{below[0]}")]
    out.append("")
    for name, sub in props.items():
        below = _children(sub, root)
        if below is None or not _is_section(sub, root):
            continue
        title = f" ({sub['title']})" if sub.get("title") else ""
        out += [f"## `{name}`{title}", ""]
        if sub.get("description"):
            out += [sub["description"].strip(), ""]
        out += [*TABLE_HEAD, *(_row(key, item, root, req) for key, item, req in rows(below[1], root)), ""]
    return "\n".join(out).rstrip("\n") + "\n"
