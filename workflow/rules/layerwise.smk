# Layer-wise analysis (the study's Figure 1): a probe per layer and fold, all layers at once.


rule probe_layers:
    input:
        train_features=lambda wc: features(wc.model, wc.train),
        test_features=lambda wc: features(wc.model, wc.test),
        train_manifest=lambda wc: manifest(wc.train),
        test_manifest=lambda wc: manifest(wc.test),
        train_splits=lambda wc: splits(wc.train),
        test_splits=lambda wc: splits(wc.test),
    output:
        scores="results/layerwise/{model}/{train}__{test}.csv",
        predictions="results/layerwise/{model}/{train}__{test}.predictions.csv",
    log:
        "logs/layerwise/{model}/{train}__{test}.log",
    benchmark:
        "results/benchmarks/layerwise/{model}/{train}__{test}.tsv"
    conda:
        ENV["gpu"]
    threads: config["torch_threads"]  # what the probes compute with: on --cores 2, two one-thread jobs at once
    resources:
        mem_mb=4000,
    params:
        probe=canonical(S.section("probe")),
        setting=experiment_setting,
        val_on=S.section("splits")["cross_val_on"],
        emotions=EMOTIONS,
        device=S.device,
        torch_threads=config["torch_threads"],  # not `threads:`: results must not depend on --cores
    script:
        "../scripts/probe_layers.py"


rule layerwise_summary:
    input:
        [layerwise_scores(e) for e in EXPERIMENTS],
    output:
        table=report("results/tables/layerwise.csv", caption="../report/layerwise.rst", category="Layer-wise"),
        best="results/layerwise/best_layers.csv",
        png=report("results/figures/figure1_layerwise.png", caption="../report/figure1.rst", category="Layer-wise"),
        pdf="results/figures/figure1_layerwise.pdf",
    log:
        "logs/layerwise/summary.log",
    benchmark:
        "results/benchmarks/layerwise/summary.tsv"
    conda:
        ENV["stats"]
    params:
        langs=canonical({c: S.corpora[c].lang for e in EXPERIMENTS for c in (e.train, e.test)}),
    script:
        "../scripts/layerwise_summary.py"


rule figure1:
    input:
        lambda wc: rests_on(rules.layerwise_summary.output),  # and every file it rests on (common.smk: rests_on)
