# Data stage: raw corpus -> manifest (16 kHz mono) -> listening stimuli -> balanced cross-validation
# splits (or the published fold lists) that keep the stimuli out of training.

from xlser.data.splits import dialog_pools


rule scan_corpus:
    input:
        corpus_root_input,
    output:
        "results/corpora/{corpus}/raw.csv",
    log:
        "logs/data/scan_{corpus}.log",
    benchmark:
        "results/benchmarks/data/scan_{corpus}.tsv"
    conda:
        ENV["data"]
    params:
        corpus=lambda wc: S.corpora[wc.corpus].scan_spec,
        emotions=EMOTIONS,
        files=corpus_files_param,  # an edited/added/removed corpus file re-plans this scan
    script:
        "../scripts/scan_corpus.py"


rule resample_corpus:
    input:
        "results/corpora/{corpus}/raw.csv",
    output:
        manifest="results/corpora/{corpus}/manifest.csv",
        wavs=directory("results/corpora/{corpus}/wav"),
    log:
        "logs/data/resample_{corpus}.log",
    benchmark:
        "results/benchmarks/data/resample_{corpus}.tsv"
    conda:
        ENV["data"]
    threads: 4
    resources:
        mem_mb=4000,
    params:
        sample_rate=S.sample_rate,
    script:
        "../scripts/resample_corpus.py"


rule make_splits:
    input:
        unpack(_splits_inputs),
    output:
        "results/splits/{corpus}.csv",
    log:
        "logs/data/splits_{corpus}.log",
    benchmark:
        "results/benchmarks/data/splits_{corpus}.tsv"
    conda:
        ENV["data"]
    params:
        splits=_splits_params,
        split_by=lambda wc: config["corpora"][wc.corpus]["split_by"],
        dialogs=lambda wc: dialog_pools(config["corpora"][wc.corpus])[0],
        folds_dir=lambda wc: config["corpora"][wc.corpus].get("folds", ""),
        emotions=EMOTIONS,
        missing_emotions=lambda wc: config["corpora"][wc.corpus]["missing_emotions"],
    script:
        "../scripts/make_splits.py"


rule listening_subset:
    input:
        unpack(_listening_inputs),
    output:
        "results/splits/{corpus}.listening.csv",
    log:
        "logs/data/listening_{corpus}.log",
    benchmark:
        "results/benchmarks/data/listening_{corpus}.tsv"
    conda:
        ENV["data"]
    params:
        per_emotion=config["splits"]["listening_per_emotion"],
        seed=config["splits"]["seed"],
        dialogs=lambda wc: dialog_pools(config["corpora"][wc.corpus])[1],
        folds_dir=_imported_folds,
        folds=lambda wc: config["splits"]["folds"] if _imported_folds(wc) else 0,
        emotions=EMOTIONS,
        missing_emotions=lambda wc: config["corpora"][wc.corpus]["missing_emotions"],
    script:
        "../scripts/listening_subset.py"


rule data:
    input:
        # and every file they rest on (common.smk: rests_on)
        lambda wc: rests_on(
            expand("results/splits/{corpus}.csv", corpus=SER_CORPORA)
            + expand("results/splits/{corpus}.listening.csv", corpus=LISTENING_CORPORA)
            + expand("results/corpora/{corpus}/manifest.csv", corpus=CORPORA)
        ),
