# Data stage: raw corpus -> manifest (16 kHz mono) -> balanced cross-validation splits.


rule scan_corpus:
    input:
        corpus_root_input,
    output:
        "results/corpora/{corpus}/raw.csv",
    params:
        corpus=lambda wc: config["corpora"][wc.corpus],
        emotions=EMOTIONS,
    log:
        "logs/data/scan_{corpus}.log",
    benchmark:
        "results/benchmarks/data/scan_{corpus}.tsv"
    conda:
        ENV["data"]
    script:
        "../scripts/scan_corpus.py"


rule resample_corpus:
    input:
        "results/corpora/{corpus}/raw.csv",
    output:
        manifest="results/corpora/{corpus}/manifest.csv",
        wavs=directory("results/corpora/{corpus}/wav"),
    params:
        sample_rate=config["sample_rate"],
    log:
        "logs/data/resample_{corpus}.log",
    benchmark:
        "results/benchmarks/data/resample_{corpus}.tsv"
    threads: 4
    resources:
        mem_mb=4000,
    conda:
        ENV["data"]
    script:
        "../scripts/resample_corpus.py"


rule make_splits:
    input:
        "results/corpora/{corpus}/manifest.csv",
    output:
        "results/splits/{corpus}.csv",
    params:
        splits=config["splits"],
        split_by=lambda wc: config["corpora"][wc.corpus].get("split_by", "random"),
        emotions=EMOTIONS,
    log:
        "logs/data/splits_{corpus}.log",
    benchmark:
        "results/benchmarks/data/splits_{corpus}.tsv"
    conda:
        ENV["data"]
    script:
        "../scripts/make_splits.py"


rule listening_subset:
    input:
        "results/corpora/{corpus}/manifest.csv",
    output:
        "results/splits/{corpus}.listening.csv",
    params:
        per_emotion=config["splits"].get("listening_per_emotion", 12),
        seed=config["splits"].get("seed", 0),
        emotions=EMOTIONS,
    log:
        "logs/data/listening_{corpus}.log",
    benchmark:
        "results/benchmarks/data/listening_{corpus}.tsv"
    conda:
        ENV["data"]
    script:
        "../scripts/listening_subset.py"


rule data:
    input:
        expand("results/splits/{corpus}.csv", corpus=SER_CORPORA),
        expand("results/splits/{corpus}.listening.csv", corpus=LISTENING_CORPORA),
        expand("results/corpora/{corpus}/manifest.csv", corpus=CORPORA),
