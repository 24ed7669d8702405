"""YAML that webMUSHRA's parser reads as PyYAML does.

webMUSHRA parses its configs with yaml.js (the npm package `yamljs` 0.3.0, shipped as
`lib/external/yaml/yaml.min.js`). yaml.js reads a compact nested sequence (`- - random`,
PyYAML's style) as one string, so webMUSHRA builds no page from it. This writer uses only
the block style webMUSHRA's own configs use, which both parsers read alike:

* mappings as `key: value` lines, sequences as `- item` lines, 4 spaces per level;
* a sequence inside a sequence starts with `-` alone on its line, its items indented below;
* every string double-quoted with JSON escapes (a subset of YAML's), so a `:`, `#`, quote,
  leading space or non-ASCII label needs no further rule; keys are plain identifiers;
* no anchors, aliases, flow collections with content, or multi-line scalars.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

INDENT = "    "
PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}  # plain words YAML 1.1 reads as values


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"webMUSHRA YAML: non-finite number {value!r}")
        return repr(value)
    if isinstance(value, str):
        return _quoted(value)
    raise TypeError(f"webMUSHRA YAML: cannot write {type(value).__name__} {value!r}")


# Characters neither parser takes alike: YAML wants them escaped, and yaml.js decodes a `\\u`
# escape above U+007F into the UTF-8 bytes of the character (U+2028 -> "\u00e2\u0080\u00a8").
UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def _quoted(s: str) -> str:
    """Double-quoted with JSON escapes (ASCII controls only; every other character written as is)."""
    bad = UNSAFE.search(s)
    if bad:
        raise ValueError(
            f"webMUSHRA YAML: character U+{ord(bad.group()):04X} in {s!r} cannot be written so that "
            "yaml.js and PyYAML read it alike; remove it"
        )
    return json.dumps(s, ensure_ascii=False)


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"webMUSHRA YAML: mapping keys must be strings, got {key!r}")
    return key if PLAIN_KEY.match(key) and key.lower() not in RESERVED else _quoted(key)


def _is_mapping(v: Any) -> bool:
    return isinstance(v, Mapping)


def _is_sequence(v: Any) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, (str, bytes))


def _lines(value: Any, depth: int) -> list[str]:
    """Block lines of a mapping or sequence at `depth` levels of indentation."""
    pad = INDENT * depth
    out: list[str] = []
    if _is_mapping(value):
        for k, v in value.items():
            if (_is_mapping(v) or _is_sequence(v)) and len(v):
                out.append(f"{pad}{_key(k)}:")
                out += _lines(v, depth + 1)
            else:
                out.append(f"{pad}{_key(k)}: {_empty(v) if _is_mapping(v) or _is_sequence(v) else _scalar(v)}")
        return out
    for item in value:
        if _is_mapping(item) and len(item):
            # first key on the dash line, the rest aligned under it (webMUSHRA's `- type: ...` style)
            inner = _lines(item, depth + 1)
            out.append(f"{pad}- {inner[0][len(pad) + len(INDENT) :]}")
            out += [
                f"{pad}  {line[len(pad) + len(INDENT) :]}" if line.startswith(pad + INDENT) else line
                for line in inner[1:]
            ]
        elif _is_sequence(item) and len(item):
            out.append(f"{pad}-")  # never `- - x`: yaml.js reads that as one string
            out += _lines(item, depth + 1)
        else:
            out.append(f"{pad}- {_empty(item) if _is_mapping(item) or _is_sequence(item) else _scalar(item)}")
    return out


def _empty(v: Any) -> str:
    return "{}" if _is_mapping(v) else "[]"


def dump(config: Mapping[str, Any]) -> str:
    """The config as YAML text that yaml.js (webMUSHRA) and PyYAML parse to the same structure."""
    if not _is_mapping(config):
        raise TypeError("webMUSHRA YAML: the top level must be a mapping")
    return "\n".join(_lines(config, 0)) + "\n"
