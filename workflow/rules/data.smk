# Data stage: raw corpus -> manifest (16 kHz mono) -> listening stimuli -> balanced cross-validation
# splits (or the published fold lists) that keep the stimuli out of training.

from xlser.data.splits import dialog_pools


include: "functions/data.smk"


rule scan_corpus:
    input:
        get_scan_corpus_root,
    output:
        paths.RAW,
    log:
        paths.log("scan_corpus"),
    benchmark:
        paths.benchmark("scan_corpus")
    conda:
        ENV["data"]
    params:
        corpus=lambda wc: S.corpora[wc.corpus].scan_spec,
        emotions=sorted(S.emotions),  # which emotions, not their order: reordering re-plans no scan
        files=get_scan_corpus_files,  # an edited/added/removed corpus file re-plans this scan
    script:
        "../scripts/scan_corpus.py"


rule resample_corpus:
    input:
        paths.RAW,
    output:
        manifest=paths.MANIFEST,
        wavs=directory(paths.WAVS),
    log:
        paths.log("resample_corpus"),
    benchmark:
        paths.benchmark("resample_corpus")
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
        unpack(get_make_splits_inputs),
    output:
        paths.SPLITS,
    log:
        paths.log("make_splits"),
    benchmark:
        paths.benchmark("make_splits")
    conda:
        ENV["data"]
    params:
        splits=get_make_splits_params,
        split_by=lambda wc: S.corpora[wc.corpus].split_by,
        dialogs=lambda wc: dialog_pools(S.corpora[wc.corpus].spec)[0],
        folds_dir=lambda wc: S.corpora[wc.corpus].folds,
        emotions=canonical(S.emotions),
        missing_emotions=lambda wc: S.corpora[wc.corpus].missing_emotions,
    script:
        "../scripts/make_splits.py"


rule listening_subset:
    input:
        unpack(get_listening_subset_inputs),
    output:
        paths.LISTENING,
    log:
        paths.log("listening_subset"),
    benchmark:
        paths.benchmark("listening_subset")
    conda:
        ENV["data"]
    params:
        per_emotion=S.splits.listening_per_emotion,
        seed=S.splits.seed,
        dialogs=lambda wc: dialog_pools(S.corpora[wc.corpus].spec)[1],
        folds_dir=get_listening_subset_folds_dir,
        folds=lambda wc: S.splits.folds if get_listening_subset_folds_dir(wc) else 0,
        emotions=canonical(S.emotions),
        missing_emotions=lambda wc: S.corpora[wc.corpus].missing_emotions,
    script:
        "../scripts/listening_subset.py"
