# Shared by every file of rules (the resolved configuration, wildcard constraints, output paths
# and the input functions that wire the embedded demo in only where the config uses it).
import os
import re
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The xlser library: importable here and, through PYTHONPATH, in every script's process
# (also inside conda envs and on SLURM nodes, which re-read this file).
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)

from xlser.config import Optim, canonical, check_paths, resolve  # noqa: E402
from xlser.peft.settings import STRATEGIES, as_params, job_layer, job_settings  # noqa: E402
from xlser.smk import checkpoint_fingerprint, export_pythonpath, forced_rerun  # noqa: E402
from xlser.report.cost import cost_settings  # noqa: E402

export_pythonpath(_SRC)

# Validated against the schema (defaults applied once, in place) and resolved: rules read S.
S = resolve(config)

EMOTIONS = list(S.emotions)
CORPORA = list(S.corpora)
SER_CORPORA = S.ser_corpora
LISTENING_CORPORA = S.listening_corpora
MODELS = list(S.models)
EXPERIMENTS = list(S.experiments)
PEFT_JOBS = list(S.peft_jobs)
PEFT = S.section("peft")
SED = S.section("sed")
SED_MODELS = list(SED.get("models", {}))
HUMAN = S.section("human")
DEMO = S.section("demo")
# the corpora's languages: all that the human tables need to know of them
LANGS = canonical({c: {"lang": S.corpora[c].lang} for c in LISTENING_CORPORA})
# `/path/to/...` placeholders and missing corpus roots, fold lists, local checkpoints and
# listening files stop here, before any plan, all named at once; the demo's rules make its own.
check_paths(
    config,
    produced=[config["corpora"][c]["root"] for c in DEMO.get("corpora", {}) if c in config["corpora"]]
    + [f"resources/demo/models/{m}" for m in DEMO.get("models", {})]
    + ([HUMAN["listeners"], *HUMAN["webmushra"], *HUMAN.get("responses", [])[:1]] if "listeners" in DEMO else []),
)
ENV = {g: f"../../envs/{g}.yaml" for g in ("data", "gpu", "sed", "stats")}


def _alt(names):
    """A wildcard regex matching exactly the given names (they may hold '-', '+', '.')."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "__none__"


wildcard_constraints:
    corpus=_alt(CORPORA),
    train=_alt(SER_CORPORA),
    test=_alt(SER_CORPORA),
    model=_alt(set(MODELS) | set(DEMO.get("models", {}))),
    sed_model=_alt(SED_MODELS),
    strategy=_alt(STRATEGIES),
    fold=r"\d+",


# ---- the embedded demo: its corpora and models are built only when the config uses them


def demo_model_dir(source):
    """The demo_model output that provides `source`, or [] for a real checkpoint."""
    for name in DEMO.get("models", {}):
        if os.path.normpath(source) == os.path.normpath(f"resources/demo/models/{name}"):
            return [f"resources/demo/models/{name}"]
    return []


def corpus_root_input(wildcards):
    """A demo corpus is built by `demo_corpus` (its folder is the input); a real corpus is
    made by no job; its files are tracked by `corpus_files_param` instead."""
    root = config["corpora"][wildcards.corpus]["root"]
    if wildcards.corpus in DEMO.get("corpora", {}):
        return [root]
    return []


def corpus_files_param(wildcards):
    """Fingerprint of a real corpus's audio and label files (path, size, mtime), a param of
    `scan_corpus`: Snakemake's params trigger re-plans that corpus's scan, and all after it,
    when one of them is edited, added, removed or replaced (xlser.data.corpora.files)."""
    if wildcards.corpus in DEMO.get("corpora", {}):
        return "demo corpus: its folder is an input"
    from xlser.data.corpora.files import fingerprint

    spec = config["corpora"][wildcards.corpus]
    return fingerprint(spec["format"], spec["root"], {k: spec[k] for k in ("table", "speakers") if k in spec})


def model_source(name):
    """Hub id or local folder of a model from `models` (or a demo model)."""
    if name in S.models:
        return S.models[name].source
    return f"resources/demo/models/{name}"


def model_input(wildcards):
    return demo_model_dir(model_source(wildcards.model))


def checkpoint_param(source):
    """Fingerprint of a local checkpoint folder (files' path, size, mtime), a param of the
    rules that load it: overwritten in place, it re-plans them (xlser.smk.checkpoint_fingerprint).
    None for a hub id; a demo model's folder is an input instead."""
    if demo_model_dir(source):
        return "demo model: its folder is an input"
    return checkpoint_fingerprint(source)


# ---- paths (rules name their outputs with the same patterns)


def manifest(corpus):
    return f"results/corpora/{corpus}/manifest.csv"


def splits(corpus):
    return f"results/splits/{corpus}.csv"


def listening(corpus):
    return f"results/splits/{corpus}.listening.csv"


# the listening tests listeners take: one webMUSHRA kit per `human.tests` item (rules/human.smk)
KIT_TESTS = {t["id"]: t for t in HUMAN.get("tests", [])}


def kit_corpora(test_id):
    """The corpora of a listening test (empty `corpora`: every listening corpus)."""
    return KIT_TESTS[test_id]["corpora"] or LISTENING_CORPORA


def kit_files(name):
    """A file of every configured kit: `config` (webMUSHRA YAML) or `stimuli` (stimulus table)."""
    pattern = {
        "config": "results/listening_kit/{t}/configs/{t}.yaml",
        "stimuli": "results/listening_kit/{t}/stimuli.csv",
    }
    return [pattern[name].format(t=t) for t in KIT_TESTS]


def features(model, corpus):
    return f"results/features/{model}/{corpus}.npz"


def layerwise_scores(e):
    return f"results/layerwise/{e.model}/{e.key}.csv"


def layerwise_predictions():
    return [f"results/layerwise/{e.model}/{e.key}.predictions.csv" for e in EXPERIMENTS]


def peft_metrics():
    return [f"{job.dir}/metrics.json" for job in PEFT_JOBS]


def table3_stimuli(wildcards=None):
    """The fold models' scores on the listening stimuli that Table III's model panels read
    (`human.table3.source: finetune`): every fold of the `human.table3.strategy` jobs tested
    on a listening corpus; none for `source: probe` or without models (human panels only)."""
    t3 = HUMAN["table3"]
    if t3["source"] != "finetune" or not S.has_models:
        return []
    jobs = [j for j in PEFT_JOBS if j.strategy == t3["strategy"] and j.experiment.test in LISTENING_CORPORA]
    if not jobs:
        from xlser.errors import ConfigError

        raise ConfigError(
            f"config human.table3: source finetune needs fine-tuning jobs of strategy "
            f"'{t3['strategy']}' tested on a listening corpus (peft.strategies: "
            f"{PEFT.get('strategies', [])}); set human.table3.strategy, or source: probe"
        )
    return [f"{j.dir}/stimuli.csv" for j in jobs]


def experiment_setting(wc):
    """mono, cross or trans: the setting of the job's (model, train, test)."""
    return S.experiment(wc.model, wc.train, wc.test).setting


# ---- fine-tuning and SED inputs


def _stage_corpora(wc):
    """Corpora whose data a fine-tuning job reads: train, test, and the model-language
    corpus for two_stage (its first stage)."""
    names = [wc.train, wc.test]
    if wc.strategy == "two_stage":
        names.append(S.source_corpus(wc.model))
    return sorted(set(names))


def sed_probe_optim(name):
    """The SED frame head's optimiser: `probe:`'s settings with the model's own `lr` and
    `max_epochs`; {} for a pre-trained diarizer (nothing to train)."""
    spec = SED["models"][name]
    if spec["backend"] != "probe":
        return {}
    return canonical(vars(Optim.from_section(S.section("probe"), lr=spec["lr"], max_epochs=spec["max_epochs"])))


def _sed_model_input(wc):
    return demo_model_dir(SED["models"][wc.sed_model]["source"])


def _sed_train_manifests(wc):
    spec = SED["models"][wc.sed_model]
    return [manifest(c) for c in spec.get("train_corpora", [])] if spec["backend"] == "probe" else []


# ---- data and report inputs


def _splits_inputs(wc):
    """The manifest; the listening stimuli that no training partition may hold
    (splits.exclude_stimuli); the published fold lists (corpora.<name>.folds)."""
    from xlser.data.folds import fold_list_paths

    inp = {"manifest": f"results/corpora/{wc.corpus}/manifest.csv"}
    if config["splits"]["exclude_stimuli"] and wc.corpus in LISTENING_CORPORA:
        inp["listening"] = f"results/splits/{wc.corpus}.listening.csv"
    folds_dir = config["corpora"][wc.corpus].get("folds")
    if folds_dir:
        inp["fold_lists"] = [str(p) for p in fold_list_paths(folds_dir, config["splits"]["folds"])]
    return inp


def _listening_inputs(wc):
    """The manifest; with imported fold lists and splits.exclude_stimuli, the lists too: the
    stimuli are drawn outside every imported training partition, so the lists stay exact."""
    from xlser.data.folds import fold_list_paths

    inp = {"manifest": f"results/corpora/{wc.corpus}/manifest.csv"}
    folds_dir = _imported_folds(wc)
    if folds_dir:
        inp["fold_lists"] = [str(p) for p in fold_list_paths(folds_dir, config["splits"]["folds"])]
    return inp


def _imported_folds(wc):
    """The fold-list folder the listening stimuli must avoid ('' when none is imported or the
    stimuli are not kept out of training)."""
    if not config["splits"]["exclude_stimuli"]:
        return ""
    return config["corpora"][wc.corpus].get("folds", "")


def _splits_params(wc):
    """Only what the job uses: imported folds need the fold count alone; random_folds only
    single-speaker (split_by random) corpora."""
    s = config["splits"]
    if config["corpora"][wc.corpus].get("folds"):
        return {"folds": s["folds"]}
    keys = ("folds", "heldout", "seed", "test", "train_per_emotion", "val")
    if config["corpora"][wc.corpus]["split_by"] == "random":
        keys = tuple(sorted((*keys, "random_folds")))
    return {k: s[k] for k in keys}


def run_results():
    """What `all` makes besides the report and the cost table: the configured sections'
    results and listening kits."""
    return (
        (rules.layerwise_summary.output if EXPERIMENTS else [])
        + (rules.table1_peft.output if PEFT_JOBS else [])
        + (rules.table2_human_ua.output + rules.table3_confusions.output if S.has_human else [])
        + (rules.welch_tests.output if S.has_human else [])
        + (rules.table4_eder.output if S.has_sed else [])
        + kit_files("config")
        + kit_files("stimuli")
        + (rules.demo_pretraining.output if PRETRAINED_DEMO_MODELS else [])
    )


def report_inputs(wildcards):
    """The tables and figures of the configured sections, and the run's cost table."""
    out = dict(cost=rules.cost_table.output.md, cost_png=rules.cost_table.output.png)
    if EXPERIMENTS:
        summary = rules.layerwise_summary.output
        out |= dict(figure1=summary.png, layerwise=summary.table, best_layers=summary.best)
    if PEFT_JOBS:
        out["table1"] = rules.table1_peft.output.md
    if S.has_human:
        t3 = rules.table3_confusions.output
        out |= dict(table2=rules.table2_human_ua.output.md, table3=t3.md, table3_png=t3.png)
        out["welch"] = rules.welch_tests.output.md
    if S.has_sed:
        out |= dict(table4=rules.table4_eder.output.md, sed_png=rules.table4_eder.output.figure)
    if PRETRAINED_DEMO_MODELS:
        out |= dict(
            pretraining=rules.demo_pretraining.output.table, pretraining_png=rules.demo_pretraining.output.figure
        )
    return out


# ---- fine-tuning job settings


def finetune_settings(wc):
    """(Finetune, Lora, Adapter) of one job: only what it uses (None otherwise), so that
    another strategy's or experiment's settings never re-plan it."""
    return job_settings(
        PEFT,
        strategy=wc.strategy,
        train=wc.train,
        test=wc.test,
        cross_val_on=S.section("splits")["cross_val_on"],
        threads=config["torch_threads"],
    )


# ---- fine-tuning layers: pinned in the config or chosen by the layer-wise stage

LAYERWISE_ROWS = {(e.model, e.train, e.test) for e in EXPERIMENTS}
BEST_LAYERS = "results/layerwise/best_layers.csv"


def finetune_layer(wc):
    """The job's layer (xlser.peft.settings.Layer): pinned in the config, or the row of
    best_layers.csv that chooses it (a two-stage job may take another experiment's)."""
    return job_layer(
        PEFT,
        model=wc.model,
        train=wc.train,
        test=wc.test,
        strategy=wc.strategy,
        source_corpus=S.source_corpus(wc.model),
        layerwise=LAYERWISE_ROWS,
    )


def finetune_best_layers(wc):
    """best_layers.csv only where the layer is chosen: a pinned job does not wait for, nor
    re-run after, the layer-wise stage."""
    return [] if finetune_layer(wc).pinned is not None else [BEST_LAYERS]


def experiment_layer(e):
    """The layer of an experiment's own (not two-stage) fine-tunes: Table I's probe column reads it."""
    return job_layer(
        PEFT,
        model=e.model,
        train=e.train,
        test=e.test,
        strategy="frozen",
        source_corpus=S.source_corpus(e.model),
        layerwise=LAYERWISE_ROWS,
    )


def _no_peft_probe():
    return bool(PEFT_JOBS) and PEFT["table1"]["no_peft"] == "probe"


def table1_probe_inputs():
    """`no_peft: probe`: the probes' scores of every PEFT experiment, best_layers.csv where a layer is chosen."""
    if not _no_peft_probe():
        return {}
    exps = S.peft_experiments
    inp = {"probe": [layerwise_scores(e) for e in exps]}
    if any(experiment_layer(e).pinned is None for e in exps):
        inp["best_layers"] = BEST_LAYERS
    return inp


def table1_probe_params():
    """Each PEFT experiment with its layer (in the order of the `probe` inputs) and the
    fine-tuned folds; {} for no_peft: frozen."""
    if not _no_peft_probe():
        return {}
    exps = [
        {"model": e.model, "train": e.train, "test": e.test, "layer": experiment_layer(e).as_param()}
        for e in S.peft_experiments
    ]
    return canonical({"experiments": exps, "folds": sorted({j.fold for j in PEFT_JOBS})})


def stimuli_input(wc):
    """The test corpus's listening stimuli, scored by the job's best checkpoint."""
    return [listening(wc.test)] if wc.test in LISTENING_CORPORA else []


# ---- what a result rests on: the named targets require every file of their chain


def upstream_jobs(files):
    """(rule, wildcards) of every job `files` are computed from, upstream to the inputs that
    no rule makes (corpora, checkpoints, listening answers). Walks the rules as Snakemake's
    DAG does (producer of a file, its wildcards, the job's inputs), so it follows every
    rule's inputs as declared; tests/workflow/test_rests_on.py holds it to the planned jobs."""
    jobs, seen = [], set()
    todo = [str(f) for f in files]
    while todo:
        path = todo.pop()
        producer = next((r for r in workflow.rules if not r.norun and r.is_producer(path)), None)
        if producer is None:
            continue  # made by no rule: a user's file
        wc = producer.get_wildcards(path)
        job = (producer.name, tuple(sorted(wc.items())))
        if job in seen:
            continue
        seen.add(job)
        jobs.append((producer, wc))
        todo += [str(f) for f in producer.expand_input(wc)[0]]
    return jobs


def rests_on(files):
    """`files` and every output of every job they are computed from (upstream_jobs).

    The named targets (and `all`) take these as inputs. Snakemake itself rebuilds a missing
    file only when a job that needs to run asks for it: an intermediate lost after the tables
    were made (a forced re-run interrupted mid-job deletes its job's outputs) would otherwise
    leave `Nothing to be done` and a table resting on a file that is gone. Required here, a
    missing one is rebuilt, and everything after it."""
    return sorted({str(f) for rule, wc in upstream_jobs(files) for f in rule.expand_output(wc)[0]})


def benchmarks_of(files):
    """The benchmark file of every job `files` are computed from (rule cost_table)."""
    return sorted({str(r.expand_benchmark(wc)) for r, wc in upstream_jobs(files) if r.benchmark})
