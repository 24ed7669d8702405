"""The webMUSHRA YAML writer: yaml.js (webMUSHRA's parser) and PyYAML read back what was written."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from webmushra_yamljs import parse_yamljs
from xlser.human.webmushra_yaml import dump

# YAML's indicators, quotes, escapes, controls and non-ASCII text a label or page may hold
ALPHABET = list("ab :#-'\"\\\t\n{}[],&*!|>%@`?=~") + ["生", "ü", "é", "😀", "\x01", "\x1f", " "]


def _cases(n: int) -> list[dict]:
    rng = random.Random(0)
    out = []
    for _ in range(n):
        s = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 14)))
        out.append(
            {
                "s": s,
                "pages": [
                    {"type": "generic", "content": s},
                    ["random", {"stimuli": {"k1": s}, "response": [{"value": s, "label": s}]}],
                    [["deeper", s], []],
                ],
                "x y": s,
                "true": [1, True, False, 2.5, -3],
                "empty": {},
                "none": [],
            }
        )
    return out


def test_every_string_reads_back_alike_in_yaml_js_and_pyyaml(tmp_path: Path):
    cases = _cases(150)
    paths = []
    for i, case in enumerate(cases):
        paths.append(tmp_path / f"c{i}.yaml")
        paths[-1].write_text(dump(case), encoding="utf-8")
    for case, path, js in zip(cases, paths, parse_yamljs(*paths), strict=True):
        assert yaml.safe_load(path.read_text(encoding="utf-8")) == case
        assert js == case, path.read_text(encoding="utf-8")


def test_nested_sequences_start_on_their_own_line():
    text = dump({"pages": [["random", {"type": "a", "id": "b"}], {"type": "finish"}]})
    assert text == ('pages:\n    -\n        - "random"\n        - type: "a"\n          id: "b"\n    - type: "finish"\n')
    assert "- -" not in text


@pytest.mark.parametrize("char", ["\u2028", "\x85", "\x7f", "\ufeff"])
def test_characters_the_parsers_read_differently_are_refused(char):
    # yaml.js turns a \u escape above U+007F into UTF-8 bytes; PyYAML needs these escaped
    with pytest.raises(ValueError, match=f"U\\+{ord(char):04X}"):
        dump({"label": f"a{char}b"})


def test_only_plain_data_is_written():
    with pytest.raises(TypeError, match="cannot write"):
        dump({"a": None})
    with pytest.raises(ValueError, match="non-finite"):
        dump({"a": float("nan")})
