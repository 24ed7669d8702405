"""The config as written: YAML files read strictly, before anything is resolved.

YAML keeps the last of two equal keys in one mapping without a word, and so do PyYAML and
Snakemake's loader: a `corpora:` block pasted twice, or `peft: {lr: ...}` set again further
down, silently replaces the first. `duplicate_keys` composes the file (nodes with their line
numbers, nothing constructed) and lists every key that a mapping holds twice; the workflow
checks every `--configfile` and the default `config/config.yaml` with it before it resolves
the config (`check_config_files`, from workflow/rules/common.smk), and `load_strict` reads
the other YAML a user writes (the rehearsal's spec) the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from xlser.errors import ConfigError


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(node: yaml.Node, path: str) -> Iterator[tuple[str, int, int]]:
    """(key path, line, line of its first occurrence) of every repeated key under `node`."""
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges, it is no key
                    continue
                name = key.value
                line = key.start_mark.line + 1
                if name in first:
                    yield _where(path, name), line, first[name]
                else:
                    first[name] = line
                yield from _walk(value, _where(path, name))
            else:
                yield from _walk(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, f"{path}[{i}]")


def duplicate_keys(text: str) -> list[tuple[str, int, int]]:
    """(key path, line, first line) of each key a mapping of the YAML `text` holds twice."""
    out = []
    for doc in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if doc is not None:
            out += list(_walk(doc, ""))
    return out


def check_file(path: str | Path) -> None:
    """ConfigError naming the file, each repeated key and its lines, if the YAML file holds a
    mapping with a key twice. A file that is not valid YAML is left to the reader that loads it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        dups = duplicate_keys(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    if dups:
        lines = [
            f"{path}, line {line}: key '{key}' is given twice (first at line {first}); YAML keeps only the "
            "last one, silently: delete or merge one of them"
            for key, line, first in dups
        ]
        raise ConfigError("\n  ".join(lines))


def check_config_files(paths: Iterable[str | Path]) -> None:
    """`check_file` on every config file Snakemake was given (each once, in order)."""
    for p in dict.fromkeys(str(p) for p in paths):
        check_file(p)


def load_strict(path: str | Path) -> Any:
    """`yaml.safe_load` of a file, after `check_file`: a repeated key is an error, not a silent last-wins."""
    check_file(path)
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
