"""Each path the workflow makes is declared once (xlser.paths), and the rules use the declaration.

What `test_no_result_path_is_typed_twice` counts: every string literal (f-strings included, as
written) outside comments and docstrings in the Snakefile, workflow/rules/**/*.smk,
workflow/scripts/*.py and src/xlser/**/*.py whose text is a path the workflow makes: it
starts with `results/`, `logs/` or `resources/`, or is one of those folders alone (the first
part of a path joined with `/`). Two such literals are the same path typed twice when their
texts are equal, or when one is a folder of the other (`results/peft/` and
`results/peft/{model}/...`; a root alone is not: `results` may be another tool's, as
webMUSHRA's). Paths built from the declarations (`f"{paths.TABLE2}.csv"`, `paths.fill(...)`)
are not literals of that kind, so they never count. Test files are not counted: they spell
out the paths they expect.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import copy_workflow
from xlser import paths

ROOT = Path(__file__).resolve().parents[2]
ROOTS = ("results", "logs", "resources")


def sources() -> list[Path]:
    return [
        ROOT / "Snakefile",
        *sorted((ROOT / "workflow" / "rules").rglob("*.smk")),
        *sorted((ROOT / "workflow" / "scripts").glob("*.py")),
        *sorted((ROOT / "src" / "xlser").rglob("*.py")),
    ]


def _text(token: str) -> str:
    """A string token's text without its prefix (f, r, b, ...) and quotes."""
    body = token.lstrip("rRbBuUfF")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[0]
    return body[len(quote) : -len(quote)]


def string_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal that is not a docstring (a string statement that
    opens a module or follows a `def`/`class` line; in a rule file, a string on its own line
    after a directive such as `benchmark:` is a value and counts)."""
    out = []
    line_tokens: list[tokenize.TokenInfo] = []
    previous: list[tokenize.TokenInfo] = []
    skip = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in skip:
            continue
        if tok.type not in (tokenize.NEWLINE, tokenize.ENDMARKER):
            line_tokens.append(tok)
            continue
        strings = [t for t in line_tokens if t.type == tokenize.STRING]
        bare = line_tokens and all(t.type == tokenize.STRING for t in line_tokens)
        opener = previous[:1] and previous[0].string in ("def", "class", "async")
        if not (bare and (not previous or opener)):
            out += [(t.start[0], _text(t.string)) for t in strings]
        previous, line_tokens = line_tokens, []
    return out


def made_path(text: str) -> bool:
    return text in ROOTS or text.startswith(tuple(f"{r}/" for r in ROOTS))


def test_the_scanner_sees_rule_values_and_skips_docstrings() -> None:
    src = '"""Module doc: results/a.csv."""\n\ndef f():\n    """results/b.csv"""\n    return "results/c.csv"\n\n'
    src += 'rule x:\n    benchmark:\n        "results/d.tsv"\n    output:\n        f"results/{w}.csv",  # results/e\n'
    assert [t for _, t in string_literals(src) if made_path(t)] == ["results/c.csv", "results/d.tsv", "results/{w}.csv"]


def test_no_result_path_is_typed_twice() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in sources():
        for line, text in string_literals(path.read_text(encoding="utf-8")):
            if made_path(text):
                where[text].append(f"{path.relative_to(ROOT)}:{line}")
    assert where, "the scanner found no path at all"
    twice = {t: w for t, w in where.items() if len(w) > 1}
    assert not twice, f"typed more than once (declare it in xlser.paths): {twice}"
    folders = [a for a in where if "/" in a]  # a root alone (`results`) may be another tool's folder
    nested = [(a, b) for a in folders for b in where if a != b and b.startswith(a.rstrip("/") + "/")]
    assert not nested, f"a folder typed beside a path inside it (derive one from the other): {nested}"


# every planned job's log and benchmark file, from Snakemake's own DAG (as tests/workflow/test_paper_plan.py)
PLAN = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

with SnakemakeApi(OutputSettings(quiet=None)) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"), workdir=Path("."),
                      config_settings=ConfigSettings(configfiles=[Path(p) for p in sys.argv[2:]]))
    wf.dag(DAGSettings())
    w = wf._workflow
    w._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True)
    w._build_dag()
    jobs = [{"rule": j.rule.name, "wildcards": dict(j.wildcards.items()), "log": [str(f) for f in j.log],
             "benchmark": str(j.benchmark) if j.benchmark else None} for j in w.dag.jobs]
    rules = {r.name: bool(r.benchmark) for r in w.rules}
Path(sys.argv[1]).write_text(json.dumps({"jobs": jobs, "rules": rules}))
"""


@pytest.mark.parametrize("training", ["stacked", "separate"])
def test_every_job_logs_and_benchmarks_where_xlser_paths_says(tmp_path: Path, training: str) -> None:
    """The cost table finds a job's benchmark file from its record (rule, wildcards) through
    xlser.paths.benchmark: every rule's `log:` and `benchmark:` must be that declaration. A
    run defines one of the two fine-tuning rules (`peft.training`)."""
    work = copy_workflow(tmp_path)
    (work / "training.yaml").write_text(f"peft: {{training: {training}}}\n")
    out = tmp_path / "plan.json"
    proc = subprocess.run(
        [sys.executable, "-c", PLAN, str(out), "config/config.yaml", "tests/e2e.yaml", "training.yaml"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    plan = json.loads(out.read_text())
    other = {"stacked": "finetune", "separate": "finetune_stacked"}[training]
    assert {r for r, has in plan["rules"].items() if has} == set(paths.JOBS) - {other}
    assert len(plan["jobs"]) > 50 and {"finetune", "finetune_stacked"} - {other} <= {j["rule"] for j in plan["jobs"]}
    for job in plan["jobs"]:
        if job["rule"] not in paths.JOBS:
            assert job["benchmark"] is None and job["log"] == [], job  # a named target runs nothing
            continue
        wc = job["wildcards"]
        assert job["benchmark"] == paths.fill(paths.benchmark(job["rule"]), **wc), job
        assert job["log"] == [paths.fill(paths.log(job["rule"]), **wc)], job


def test_parse_reads_the_wildcards_back() -> None:
    assert paths.parse(paths.MANIFEST, "results/corpora/DEMO-CN/manifest.csv") == {"corpus": "DEMO-CN"}
    assert paths.parse(paths.LISTENING, "/x/results/splits/A.B.listening.csv") == {"corpus": "A.B"}
    assert paths.parse(paths.SPLITS, "results/corpora/A/manifest.csv") is None
    job = {"model": "M", "train": "A", "test": "B", "strategy": "lora+ba+wg", "fold": "3"}
    assert paths.parse(paths.PEFT_METRICS, paths.fill(paths.PEFT_METRICS, **job)) == job
    assert paths.parse(paths.KIT_CONFIG, "results/listening_kit/t1/configs/t1.yaml") == {"kit": "t1"}
    assert paths.parse(paths.KIT_CONFIG, "results/listening_kit/t1/configs/t2.yaml") is None
