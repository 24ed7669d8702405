# Shared by all rule files - config validation, the experiment grid, wildcard constraints
# and the input functions that wire the embedded demo in only where the config uses it.
import os
import re
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# The xlser library: importable here and, through PYTHONPATH, in every script's process
# (also inside conda envs and on SLURM nodes, which re-read this file).
_SRC = str(Path(workflow.basedir).parent / "src")
sys.path.insert(0, _SRC)

from xlser.experiments import experiments, listening_corpora, ser_corpora, source_corpus  # noqa: E402
from xlser.smk import export_pythonpath  # noqa: E402

export_pythonpath(_SRC)


validate(config, schema="../schemas/config.schema.yaml")

EMOTIONS = config["emotions"]
CORPORA = list(config["corpora"])
SER_CORPORA = list(ser_corpora(config))
LISTENING_CORPORA = list(listening_corpora(config))
MODELS = list(config.get("models", {}))
EXPERIMENTS = experiments(config)
PEFT = config.get("peft", {})
PEFT_EXPERIMENTS = experiments(config, PEFT.get("experiments", "grid")) if PEFT.get("strategies") else []
PEFT_FOLDS = PEFT.get("folds", list(range(config["splits"]["folds"])))
SED = config.get("sed", {})
SED_MODELS = list(SED.get("models", {}))
HUMAN = config.get("human", {})
DEMO = config.get("demo", {})
ENV = {g: f"../envs/{g}.yaml" for g in ("data", "gpu", "sed", "stats")}


def _alt(names):
    """A wildcard regex matching exactly the given names (they may hold '-', '+', '.')."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "__none__"


_ALL_MODELS = set(MODELS) | set(DEMO.get("models", {}))
wildcard_constraints:
    corpus=_alt(CORPORA),
    train=_alt(SER_CORPORA),
    test=_alt(SER_CORPORA),
    model=_alt(_ALL_MODELS),
    sed_model=_alt(SED_MODELS),
    strategy=_alt(["frozen", "lora", "lora+ba+wg", "two_stage"]),
    fold=r"\d+",


# ---- the embedded demo: its corpora and models are built only when the config uses them


def demo_model_dir(source):
    """The demo_model output that provides `source`, or [] for a real checkpoint."""
    for name in DEMO.get("models", {}):
        if os.path.normpath(source) == os.path.normpath(f"resources/demo/models/{name}"):
            return [f"resources/demo/models/{name}"]
    return []


def corpus_root_input(wildcards):
    """A demo corpus is built by `demo_corpus`; a real corpus root is only read."""
    root = config["corpora"][wildcards.corpus]["root"]
    if wildcards.corpus in DEMO.get("corpora", {}):
        return [root]
    return []


def model_source(name):
    """Hub id or local folder of a model from `models` (or a demo model)."""
    if name in config.get("models", {}):
        return config["models"][name]["source"]
    return f"resources/demo/models/{name}"


def model_input(wildcards):
    return demo_model_dir(model_source(wildcards.model))


# ---- paths


def manifest(corpus):
    return f"results/corpora/{corpus}/manifest.csv"


def splits(corpus):
    return f"results/splits/{corpus}.csv"


def features(model, corpus):
    return f"results/features/{model}/{corpus}.npz"


def setting_of(model, train, test):
    for e in EXPERIMENTS + PEFT_EXPERIMENTS:
        if (e.model, e.train, e.test) == (model, train, test):
            return e.setting
    raise ValueError(f"({model}, {train}, {test}) is not a configured experiment")


def layerwise_outputs():
    return [f"results/layerwise/{e.model}/{e.key}.csv" for e in EXPERIMENTS]


def layerwise_predictions():
    return [f"results/layerwise/{e.model}/{e.key}.predictions.csv" for e in EXPERIMENTS]


def peft_jobs():
    """(experiment, strategy) pairs; two_stage only where it means something (trans)."""
    jobs = []
    for e in PEFT_EXPERIMENTS:
        for s in PEFT.get("strategies", []):
            if s == "two_stage" and (e.setting != "trans" or source_corpus(config, e.model) is None):
                continue
            jobs.append((e, s))
    return jobs


def peft_metrics():
    return [
        f"results/peft/{e.model}/{e.key}/{s}/fold{f}/metrics.json" for e, s in peft_jobs() for f in PEFT_FOLDS
    ]


def table(stem):
    return [f"results/tables/{stem}.{ext}" for ext in ("csv", "md", "tex")]


# ---- fine-tuning and SED inputs

def _stage_corpora(wc):
    """Corpora whose data a fine-tuning job reads: train, test, and the model-language
    corpus for two_stage (its first stage)."""
    names = [wc.train, wc.test]
    if wc.strategy == "two_stage":
        names.append(source_corpus(config, wc.model))
    return sorted(set(names))

def _sed_model_input(wc):
    return demo_model_dir(SED["models"][wc.sed_model]["source"])


def _sed_train_manifests(wc):
    spec = SED["models"][wc.sed_model]
    return [manifest(c) for c in spec.get("train_corpora", [])] if spec["backend"] == "probe" else []
