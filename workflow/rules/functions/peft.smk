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
