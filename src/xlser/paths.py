"""Every path the workflow makes, declared once: rules, scripts and the library read them here.

Patterns carry Snakemake's wildcards (`{corpus}`, `{model}`, ...): rules use them as they are
(outputs) or filled in (`fill`, inputs of other rules); library code that must tell a file's
corpus from its path matches the same pattern (`parse`) instead of retyping it. Multi-format
tables are stems (`TABLE2 + ".csv"`). Each job's log and benchmark file follow from its rule
(`log`, `benchmark`: `JOBS`), so the cost table finds a job's benchmark from the (rule,
wildcards) the job records (xlser.smk). tests/workflow/test_paths.py fails when a result path
is typed anywhere else.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# ---- the embedded demo's inputs (made by its rules, read like the user's corpora and checkpoints)
DEMO_CORPUS = "resources/demo/corpora/{corpus}"
DEMO_MODEL = "resources/demo/models/{model}"
DEMO_PRETRAIN_CURVE = "results/demo/pretrain_{model}.csv"
DEMO_PRETRAINING = "results/demo/pretraining.csv"
DEMO_PRETRAINING_FIGURE = "results/figures/demo_pretraining.png"

# ---- data
RAW = "results/corpora/{corpus}/raw.csv"
MANIFEST = "results/corpora/{corpus}/manifest.csv"
WAVS = "results/corpora/{corpus}/wav"
SPLITS = "results/splits/{corpus}.csv"
LISTENING = "results/splits/{corpus}.listening.csv"

# ---- features and the layer-wise stage (Figure 1)
FEATURES = "results/features/{model}/{corpus}.npz"
LAYERWISE_SCORES = "results/layerwise/{model}/{train}__{test}.csv"
LAYERWISE_PREDICTIONS = "results/layerwise/{model}/{train}__{test}.predictions.csv"
LAYERWISE_TABLE = "results/tables/layerwise.csv"
BEST_LAYERS = "results/layerwise/best_layers.csv"
FIGURE1 = "results/figures/figure1_layerwise"

# ---- fine-tuning (Table I): one folder per fold model (trained alone or stacked with the other
# folds of its experiment and strategy); its resumable checkpoint elsewhere (not an output)
PEFT_JOB = "results/peft/{model}/{train}__{test}/{strategy}/fold{fold}"
PEFT_METRICS = f"{PEFT_JOB}/metrics.json"
PEFT_PREDICTIONS = f"{PEFT_JOB}/predictions.csv"
PEFT_ADAPTER = f"{PEFT_JOB}/adapter.safetensors"
PEFT_STIMULI = f"{PEFT_JOB}/stimuli.csv"
PEFT_CHECKPOINT = "results/checkpoints/peft/{model}/{train}__{test}/{strategy}/fold{fold}"
TABLE1 = "results/tables/table1_peft"

# ---- speech emotion diarization (Table IV)
SED_DRAW = "results/sed/draw.csv"
SED_SUBSET = "results/sed/subset.csv"
SED_FRAMES = "results/sed/{sed_model}/frames.json"
TABLE4 = "results/tables/table4_eder"
SED_TIMELINE = "results/figures/sed_timeline.png"

# ---- listening tests (Tables II, III, t-tests)
KIT = "results/listening_kit/{kit}"
KIT_CONFIG = f"{KIT}/configs/{{kit}}.yaml"
KIT_STIMULI = f"{KIT}/stimuli.csv"
KIT_README = f"{KIT}/README.md"
RESPONSES = "results/human/responses.csv"
TABLE2 = "results/tables/table2_human_ua"
TABLE3 = "results/tables/table3_confusions"
TABLE3_FIGURE = "results/figures/table3_confusions"
WELCH = "results/stats/welch_tests"

# ---- report and cost
COST_TABLE = "results/tables/cost"
COST_FIGURE = "results/figures/cost.png"
REPORT = "results/report/index.html"
REHEARSAL_RUN = "results/rehearsal_run.json"  # tools/rehearsal.py: its last Snakemake invocation

# ---- logs and benchmarks: `logs/<job>.log`, `results/benchmarks/<job>.tsv`, per rule
LOGS = "logs"
BENCHMARKS = "results/benchmarks"
JOBS = {
    "demo_corpus": "demo/corpus_{corpus}",
    "demo_model": "demo/model_{model}",
    "demo_pretraining": "demo/pretraining",
    "demo_listeners": "demo/listeners",
    "scan_corpus": "data/scan_{corpus}",
    "resample_corpus": "data/resample_{corpus}",
    "make_splits": "data/splits_{corpus}",
    "listening_subset": "data/listening_{corpus}",
    "extract_features": "features/{model}/{corpus}",
    "probe_layers": "layerwise/{model}/{train}__{test}",
    "layerwise_summary": "layerwise/summary",
    "finetune": "peft/{model}/{train}__{test}/{strategy}/fold{fold}",
    "finetune_stacked": "peft/{model}/{train}__{test}/{strategy}/stacked",  # peft.training: stacked
    "table1_peft": "peft/table1",
    "sed_draw": "sed/draw",
    "sed_subset": "sed/subset",
    "diarize": "sed/{sed_model}",
    "table4_eder": "sed/table4",
    "build_listening_kit": "human/listening_kit_{kit}",
    "ingest_listening_test": "human/ingest",
    "table2_human_ua": "human/table2",
    "table3_confusions": "human/table3",
    "welch_tests": "human/welch",
    "cost_table": "report/cost",
    "report_html": "report/report",
}


def log(rule: str) -> str:
    """The log pattern of `rule`'s jobs."""
    return f"{LOGS}/{JOBS[rule]}.log"


def benchmark(rule: str) -> str:
    """The benchmark pattern of `rule`'s jobs (Snakemake's per-job `s`, `max_rss`, ...)."""
    return f"{BENCHMARKS}/{JOBS[rule]}.tsv"


def fill(pattern: str, **wildcards: Any) -> str:
    """`pattern` with its wildcards filled in (every one must be given)."""
    return pattern.format(**wildcards)


def root(pattern: str) -> str:
    """The folder part of `pattern` before its first wildcard (`results/peft/` of PEFT_JOB)."""
    return pattern.split("{", 1)[0]


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", pattern)
    seen: set[str] = set()
    rx = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            rx.append(re.escape(part))
        elif part in seen:
            rx.append(f"(?P={part})")
        else:
            seen.add(part)
            rx.append(f"(?P<{part}>[^/]+)")
    return re.compile("(?:^|/)" + "".join(rx) + "$")


def parse(pattern: str, path: Any) -> dict[str, str] | None:
    """The wildcards of `path` (relative or under another folder) if it is a file of `pattern`, else None.

    >>> parse(MANIFEST, "/run/results/corpora/ESD/manifest.csv")
    {'corpus': 'ESD'}
    """
    m = _regex(pattern).search(str(path).replace("\\", "/"))
    return m.groupdict() if m else None
