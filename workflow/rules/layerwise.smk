# Layer-wise analysis (the study's Figure 1): a probe per layer and fold, all layers at once.


rule probe_layers:
    input:
        train_features=lambda wc: features_path(wc.model, wc.train),
        test_features=lambda wc: features_path(wc.model, wc.test),
        train_manifest=lambda wc: manifest_path(wc.train),
        test_manifest=lambda wc: manifest_path(wc.test),
        train_splits=lambda wc: splits_path(wc.train),
        test_splits=lambda wc: splits_path(wc.test),
    output:
        scores=paths.LAYERWISE_SCORES,
        predictions=paths.LAYERWISE_PREDICTIONS,
    log:
        paths.log("probe_layers"),
    benchmark:
        paths.benchmark("probe_layers")
    conda:
        ENV["gpu"]
    threads: S.torch_threads  # what the probes compute with: on --cores 2, two one-thread jobs at once
    resources:
        mem_mb=4000,
    params:
        probe=S.probe.as_param(),
        setting=lambda wc: S.experiment(wc.model, wc.train, wc.test).setting,
        val_on=S.splits.cross_val_on,
        emotions=canonical(S.emotions),
        device=S.device,
        torch_threads=S.torch_threads,  # not `threads:`: results must not depend on --cores
    script:
        "../scripts/probe_layers.py"


rule layerwise_summary:
    input:
        [layerwise_scores_path(e) for e in S.experiments],
    output:
        table=report(paths.LAYERWISE_TABLE, caption="../report/layerwise.rst", category="Layer-wise"),
        best=paths.BEST_LAYERS,
        png=report(f"{paths.FIGURE1}.png", caption="../report/figure1.rst", category="Layer-wise"),
        pdf=f"{paths.FIGURE1}.pdf",
    log:
        paths.log("layerwise_summary"),
    benchmark:
        paths.benchmark("layerwise_summary")
    conda:
        ENV["stats"]
    params:
        langs=canonical({c: S.corpora[c].lang for e in S.experiments for c in (e.train, e.test)}),
    script:
        "../scripts/layerwise_summary.py"
