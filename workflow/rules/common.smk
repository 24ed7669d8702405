# Start-up shared by every file of rules: the xlser library on the path, the resolved
# configuration (S), wildcard constraints and the path helpers. Each stage's input and param
# functions are in functions/<stage>.smk, included at the top of the stage's rule file
# (`snakemake --lint` wants no function beside a rule); the named targets are in targets.smk,
# the DAG walks they use in functions/targets.smk.
import os
import re
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import min_version

min_version("9.0")

# The xlser library: importable here and, through PYTHONPATH, in every script's process
# (also inside conda envs and on SLURM nodes, which re-read this file).
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)

from xlser import paths  # noqa: E402
from xlser.config import canonical, paths_error, resolve  # noqa: E402
from xlser.finetuning import STRATEGIES, as_params  # noqa: E402
from xlser.smk import checkpoint_fingerprint, export_pythonpath, forced_rerun  # noqa: E402
from xlser.yamlcheck import check_config_files  # noqa: E402

export_pythonpath(_SRC)

# The config as written: a key given twice in a --configfile (or in the default config/config.yaml)
# is an error naming file, key and lines; YAML and Snakemake's loader keep the last one silently.
check_config_files(workflow.configfiles)
# Validated against the schema (defaults applied once, in place) and resolved: rules read S
# (S.splits, S.probe, S.peft, S.sed, S.human, S.demo, ...: xlser.config.Settings).
S = resolve(config)
# `/path/to/...` placeholders and missing corpus roots, fold lists, local checkpoints and
# listening files (the demo's rules make its own): each job's input function requires the paths
# it reads (require_paths), so they stop the run while Snakemake plans, before any job starts,
# but only for the jobs the requested targets need; here they are only listed, once.
if S.path_problems:
    logger.warning(
        f"config: {len(S.path_problems)} path(s) not filled in or not found; the run stops if a job "
        "it needs reads one (the others may stay as they are):\n  " + "\n  ".join(S.path_problems.values())
    )
ENV = {g: f"../../envs/{g}.yaml" for g in ("data", "gpu", "sed", "stats")}


def _alt(names):
    """A wildcard regex matching exactly the given names (they may hold '-', '+', '.')."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "__none__"


wildcard_constraints:
    corpus=_alt(S.corpora),
    train=_alt(S.ser_corpora),
    test=_alt(S.ser_corpora),
    model=_alt(set(S.models) | set(S.demo.models)),
    sed_model=_alt(S.sed.models),
    strategy=_alt(STRATEGIES),
    fold=r"\d+",


# ---- the user's paths a job reads (config key paths): checked while Snakemake plans

_PATH_WALKS = []  # one dict per DAG walk in progress (functions/targets.smk): its problems, in order


def require_paths(*keys, but_not=()):
    """Stop planning when a configured path under `keys` (`corpora.ESD.root`, `human`, ...; not
    under `but_not`) is a `/path/to/...` placeholder or missing: a ConfigError naming each key,
    its value and what belongs there (S.check_paths). Called by the input functions of the
    jobs that read them. Inside a DAG walk the problems are collected instead, and the walk
    names those of all its jobs at once."""
    lines = S.check_paths(*keys, but_not=but_not)
    if lines and _PATH_WALKS:
        _PATH_WALKS[-1].update(dict.fromkeys(lines))
    elif lines:
        raise paths_error(lines, needed_by=" that this job reads")


# ---- paths of one corpus, model or experiment (xlser.paths declares every pattern)


def manifest_path(corpus):
    return paths.fill(paths.MANIFEST, corpus=corpus)


def splits_path(corpus):
    return paths.fill(paths.SPLITS, corpus=corpus)


def listening_path(corpus):
    return paths.fill(paths.LISTENING, corpus=corpus)


def features_path(model, corpus):
    return paths.fill(paths.FEATURES, model=model, corpus=corpus)


def layerwise_scores_path(e):
    return paths.fill(paths.LAYERWISE_SCORES, model=e.model, train=e.train, test=e.test)


def layerwise_predictions_paths():
    return [paths.fill(paths.LAYERWISE_PREDICTIONS, model=e.model, train=e.train, test=e.test) for e in S.experiments]


def peft_paths(pattern):
    """`pattern` (paths.PEFT_METRICS, PEFT_STIMULI, ...) of every planned fine-tuning job."""
    return [paths.fill(pattern, **job.wildcards) for job in S.peft_jobs]


def kit_paths(pattern):
    """`pattern` (paths.KIT_CONFIG or KIT_STIMULI) of every configured listening kit (`human.tests`)."""
    return [paths.fill(pattern, kit=t) for t in S.human.tests]


def lss_paths():
    """webMUSHRA's answer file in each configured results folder (`human.webmushra`)."""
    return [f"{folder}/lss.csv" for folder in S.human.webmushra]


# ---- checkpoints: the embedded demo's models are built only when the config uses them


def demo_model_paths(source):
    """The demo_model output that provides `source`, or [] for a real checkpoint."""
    for name in S.demo.models:
        folder = paths.fill(paths.DEMO_MODEL, model=name)
        if os.path.normpath(source) == os.path.normpath(folder):
            return [folder]
    return []


def get_model_dir(wildcards):
    """The model's folder where a demo rule makes it (an input), else none (extract_features,
    finetune); a local checkpoint folder that is missing stops the plan (require_paths)."""
    if wildcards.model in S.models:
        require_paths(f"models.{wildcards.model}")
    return demo_model_paths(S.model_source(wildcards.model))


def source_files_param(source):
    """Fingerprint of a local checkpoint folder (files' path, size, mtime), a param of the
    rules that load it: overwritten in place, it re-plans them (xlser.smk.checkpoint_fingerprint).
    None for a hub id; a demo model's folder is an input instead."""
    if demo_model_paths(source):
        return "demo model: its folder is an input"
    return checkpoint_fingerprint(source)
