"""webMUSHRA's own YAML parser for the tests: yaml.js (npm `yamljs` 0.3.0), run in node.

webMUSHRA ships `yamljs`'s `dist/yaml.min.js` as `lib/external/yaml/yaml.min.js` (byte for
byte: the SHA-256 below is of both). The package is installed once from the npm registry into
a cache (`$XLSER_TEST_CACHE`, default `~/.cache/xlser`) and the browser bundle is evaluated
in a node `vm` context with a `window`, as webMUSHRA's page loads it. Tests skip only when
node or npm is absent; a failed install is a test failure.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

YAMLJS_VERSION = "0.3.0"
YAMLJS_SHA256 = "7c383fb99a3718112b2b59f275154c27a899703b4eab6bb7b5626daa5d2875e7"

PARSE_JS = r"""
const fs = require('fs'), vm = require('vm');
const ctx = {}; ctx.window = ctx; vm.createContext(ctx);
vm.runInContext(fs.readFileSync(process.argv[2], 'utf8'), ctx);
const out = {};
for (const f of process.argv.slice(3)) {
  try { out[f] = {ok: ctx.YAML.parse(fs.readFileSync(f, 'utf8'))}; } catch (e) { out[f] = {error: String(e)}; }
}
process.stdout.write(JSON.stringify(out));
"""


def yamljs_bundle() -> Path:
    """Path of yaml.min.js (installed on first use); skips the test when node or npm is absent."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed to parse kits with webMUSHRA's yaml.js (npm package yamljs)")
    root = Path(os.environ.get("XLSER_TEST_CACHE", Path.home() / ".cache" / "xlser")) / f"yamljs-{YAMLJS_VERSION}"
    root.mkdir(parents=True, exist_ok=True)
    bundle = root / "node_modules" / "yamljs" / "dist" / "yaml.min.js"
    with open(root / ".lock", "w") as lock:  # parallel test processes install once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not bundle.is_file():
            run = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(root),
                    "--no-audit",
                    "--no-fund",
                    "--no-save",
                    f"yamljs@{YAMLJS_VERSION}",
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if run.returncode != 0 or not bundle.is_file():
                pytest.fail(f"npm install yamljs@{YAMLJS_VERSION} into {root} failed:\n{run.stderr[-2000:]}")
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert digest == YAMLJS_SHA256, f"{bundle} is not the yaml.min.js webMUSHRA ships (sha256 {digest})"
    return bundle


def parse_yamljs(*paths: str | Path) -> list[Any]:
    """Each file as yaml.js (webMUSHRA) parses it; a parse error fails the test."""
    bundle = yamljs_bundle()
    script = bundle.parent.parent.parent.parent / "parse.js"
    if not script.is_file() or script.read_text() != PARSE_JS:
        tmp = script.with_name(f"parse.{os.getpid()}.js")
        tmp.write_text(PARSE_JS)
        os.replace(tmp, script)
    run = subprocess.run(
        ["node", str(script), str(bundle), *map(str, paths)], capture_output=True, text=True, timeout=120, check=True
    )
    out = json.loads(run.stdout)
    got = []
    for p in map(str, paths):
        if "error" in out[p]:
            pytest.fail(f"yaml.js cannot parse {p}: {out[p]['error']}")
        got.append(out[p]["ok"])
    return got


def webmushra_reads(kit: str | Path, test_id: str) -> dict:
    """The kit's config as webMUSHRA reads it, checked to be what xlser wrote (PyYAML's reading)
    and to hold the pages xlser means: answer pages in a `random` block, each playing one of the
    kit's audio files, the finish page last."""
    import yaml

    path = Path(kit) / "configs" / f"{test_id}.yaml"
    (js,) = parse_yamljs(path)
    assert js == yaml.safe_load(path.read_text(encoding="utf-8")), f"yaml.js reads {path} differently"
    blocks = [b for b in js["pages"] if isinstance(b, list)]
    assert len(blocks) == 1 and blocks[0][0] == "random", js["pages"]
    answers = blocks[0][1:]
    assert answers and all(p["type"] == "likert_single_stimulus" for p in answers)
    for p in answers:
        ((key, src),) = p["stimuli"].items()
        assert src == f"configs/resources/audio/{test_id}/{key}.wav" and (Path(kit) / src).is_file()
        assert p["response"] and all(set(r) == {"value", "label"} for r in p["response"])
    assert all(isinstance(p, dict) and p["type"] == "generic" for p in js["pages"][:-2])
    assert js["pages"][-1]["type"] == "finish" and js["pages"][-1]["writeResults"] is True
    return js
