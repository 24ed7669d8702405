# The listening tests' input and param functions (rules: ../human.smk).


def get_build_listening_kit_corpora(wildcards):
    """The corpora of the kit's test (its empty `corpora`: every listening corpus). Its
    `human.tests` item must hold no placeholder; the answers (`human.webmushra`, ...) are not
    read: a kit is built before anyone answers it."""
    ids = [t.get("id") for t in S.raw["human"]["tests"]]
    require_paths(f"human.tests[{ids.index(wildcards.kit)}]")
    return S.human.kit_corpora(wildcards.kit, S.listening_corpora)


def get_ingest_listening_test_inputs(wildcards):
    """The answers (webMUSHRA's `lss.csv` in each `human.webmushra` folder, `human.responses`),
    the listener table, the stimulus tables (`human.stimuli` and every kit's) and the manifests
    of the corpora played. The user's files must exist (require_paths: `human`, but for the
    kits' own items)."""
    require_paths("human", but_not=("human.tests",))
    return {
        "lss": lss_paths(),
        "responses": list(S.human.responses),
        "listeners": S.human.listeners or [],
        "stimuli": ([S.human.stimuli] if S.human.stimuli else []) + kit_paths(paths.KIT_STIMULI),
        "manifests": [manifest_path(c) for c in S.listening_corpora],
        "sed_manifest": manifest_path(S.sed.corpus) if S.sed.corpus else [],
    }


def get_table3_confusions_predictions(wildcards):
    """`human.table3.source: probe`: the layer-wise probes' pooled test predictions."""
    return layerwise_predictions_paths() if S.human.table3.source == "probe" else []


def get_table3_confusions_stimuli(wildcards):
    """The fold models' scores on the listening stimuli that Table III's model panels read
    (`human.table3.source: finetune`): every fold of the `human.table3.strategy` jobs tested
    on a listening corpus; none for `source: probe` or without models (human panels only)."""
    t3 = S.human.table3
    if t3.source != "finetune" or not S.has_models:
        return []
    jobs = [j for j in S.peft_jobs if j.strategy == t3.strategy and j.experiment.test in S.listening_corpora]
    if not jobs:
        from xlser.errors import ConfigError

        raise ConfigError(
            f"config human.table3: source finetune needs fine-tuning jobs of strategy "
            f"'{t3.strategy}' tested on a listening corpus (peft.strategies: "
            f"{list(S.peft.strategies)}); set human.table3.strategy, or source: probe"
        )
    return [paths.fill(paths.PEFT_STIMULI, **j.wildcards) for j in jobs]


def get_table3_confusions_experiments(wildcards):
    """The experiments whose models make the panels: layer-wise (probe) or fine-tuned."""
    exps = S.experiments if S.human.table3.source == "probe" else S.peft_experiments
    return [vars(e) for e in exps]

# ---- the tests listeners take: one webMUSHRA kit per `human.tests` item (results/listening_kit/<id>/)
