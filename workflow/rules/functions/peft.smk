# The fine-tuning stage's input and param functions (rules: ../peft.smk).


def get_finetune_corpora(wildcards):
    """Corpora whose data a fine-tuning job reads: train, test, and the model-language
    corpus for two_stage (its first stage)."""
    names = [wildcards.train, wildcards.test]
    if wildcards.strategy == "two_stage":
        names.append(S.source_corpus(wildcards.model))
    return sorted(set(names))


def get_finetune_layer(wildcards):
    """The job's layer (xlser.finetuning.Layer): pinned in the config, or the row of
    best_layers.csv that chooses it (a two-stage job may take another experiment's)."""
    w = wildcards
    return S.finetune_layer(w.model, w.train, w.test, w.strategy)


def get_finetune_best_layers(wildcards):
    """best_layers.csv only where the layer is chosen: a pinned job does not wait for, nor
    re-run after, the layer-wise stage."""
    return [] if get_finetune_layer(wildcards).pinned is not None else [paths.BEST_LAYERS]


def get_finetune_listening(wildcards):
    """The test corpus's listening stimuli, scored by the job's best checkpoint."""
    return [listening_path(wildcards.test)] if wildcards.test in S.listening_corpora else []


def get_finetune_settings(wildcards):
    """(Finetune, Lora, Adapter) of one job: only what it uses (None otherwise)."""
    return S.finetune_settings(wildcards.strategy, wildcards.train, wildcards.test)


def get_finetune_inputs():
    """The inputs of a fine-tuning job, `finetune`'s (one fold) and `finetune_stacked`'s (the
    folds of one experiment and strategy): they depend on the experiment and strategy only."""
    return {
        "best_layers": get_finetune_best_layers,
        "model": get_model_dir,
        "manifests": lambda wc: [manifest_path(c) for c in get_finetune_corpora(wc)],
        "splits": lambda wc: [splits_path(c) for c in get_finetune_corpora(wc)],
        "listening": get_finetune_listening,
    }


def get_finetune_params():
    """The params both fine-tuning rules share (xlser.peft.job reads them), in this order: only
    what the job uses, canonical, so that a changed setting re-runs the jobs that use it (a
    strategy's LoRA or adapter sizes, its schedule) and nothing else."""
    return {
        "source": lambda wc: S.model_source(wc.model),
        "source_files": lambda wc: source_files_param(S.model_source(wc.model)),  # a local folder overwritten re-plans
        "setting": lambda wc: S.experiment(wc.model, wc.train, wc.test).setting,
        "layer": lambda wc: get_finetune_layer(wc).as_param(),
        "stage_corpus": lambda wc: S.source_corpus(wc.model) if wc.strategy == "two_stage" else None,
        "optim": canonical(vars(S.peft.optim)) if S.peft.optim else {},
        "finetune": lambda wc: as_params(get_finetune_settings(wc)[0]),
        "lora": lambda wc: as_params(get_finetune_settings(wc)[1]),
        "adapter": lambda wc: as_params(get_finetune_settings(wc)[2]),
        "head": S.probe.head,
        "emotions": canonical(S.emotions),
        "device": S.device,
    }


def get_finetune_stacked_folds():
    """The folds a stacked job trains together: every fine-tuned fold (`peft.folds`, else every
    cross-validation fold), the same for every experiment and strategy."""
    return sorted({j.fold for j in S.peft_jobs})


def get_finetune_stacked_outputs(pattern):
    """`pattern` (paths.PEFT_METRICS, ...) of every fold of a stacked job, in the order of
    `get_finetune_stacked_folds`, its other wildcards left for Snakemake."""
    return expand(pattern, fold=get_finetune_stacked_folds(), allow_missing=True)


def get_finetune_stacked_checkpoint_dirs(wildcards):
    """Each fold's checkpoint folder (paths.PEFT_CHECKPOINT), in the order of the folds."""
    wc = {k: wildcards[k] for k in ("model", "train", "test", "strategy")}
    return [paths.fill(paths.PEFT_CHECKPOINT, **wc, fold=f) for f in get_finetune_stacked_folds()]


def _experiment_layer(e):
    """The layer of an experiment's own (not two-stage) fine-tunes: Table I's probe column reads it."""
    return S.finetune_layer(e.model, e.train, e.test, "frozen")


def get_table1_peft_probe_inputs():
    """`no_peft: probe`: the probes' scores of every PEFT experiment, best_layers.csv where a layer is chosen."""
    if not (S.peft_jobs and S.peft.no_peft == "probe"):
        return {}
    exps = S.peft_experiments
    inp = {"probe": [layerwise_scores_path(e) for e in exps]}
    if any(_experiment_layer(e).pinned is None for e in exps):
        inp["best_layers"] = paths.BEST_LAYERS
    return inp


def get_table1_peft_probe_params():
    """Each PEFT experiment with its layer (in the order of the `probe` inputs) and the
    fine-tuned folds; {} for no_peft: frozen."""
    if not (S.peft_jobs and S.peft.no_peft == "probe"):
        return {}
    exps = [
        {"model": e.model, "train": e.train, "test": e.test, "layer": _experiment_layer(e).as_param()}
        for e in S.peft_experiments
    ]
    return canonical({"experiments": exps, "folds": sorted({j.fold for j in S.peft_jobs})})
