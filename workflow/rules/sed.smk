# Speech emotion diarization (the study's Table IV): frame-level emotions on ZED, EDER.


include: "functions/sed.smk"


rule sed_draw:
    input:
        manifest=get_sed_manifest,
        pinned=get_sed_pinned,
    output:
        paths.SED_DRAW,
    log:
        paths.log("sed_draw"),
    benchmark:
        paths.benchmark("sed_draw")
    conda:
        ENV["sed"]
    params:
        per_emotion=S.sed.per_emotion,
        emotions=canonical(S.sed.emotions),
        seed=S.splits.seed,
        corpus=None,
        lenient=False,
    script:
        "../scripts/sed_subset.py"


# The subset models and listeners are scored on: `sed.subset` if pinned, else the SED-corpus
# utterances listeners answered (when any), else the draw above.
rule sed_subset:
    input:
        manifest=get_sed_manifest,
        pinned=get_sed_pinned,
        responses=paths.RESPONSES if S.has_human else [],
    output:
        paths.SED_SUBSET,
    log:
        paths.log("sed_subset"),
    benchmark:
        paths.benchmark("sed_subset")
    conda:
        ENV["sed"]
    params:
        per_emotion=S.sed.per_emotion,
        emotions=canonical(S.sed.emotions),
        seed=S.splits.seed,
        corpus=S.sed.corpus,
        lenient=S.human.lenient,
    script:
        "../scripts/sed_subset.py"


rule diarize:
    input:
        subset=paths.SED_SUBSET,
        manifest=get_sed_manifest,
        model=get_diarize_model,
        train_manifests=get_diarize_train_manifests,
    output:
        paths.SED_FRAMES,
    log:
        paths.log("diarize"),
    benchmark:
        paths.benchmark("diarize")
    conda:
        ENV["sed"]
    threads: S.gpu_job_threads  # on CPU torch_threads (the default), on CUDA all it holds (xlser.device)
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        spec=lambda wc: canonical(S.sed.models[wc.sed_model]),
        source_files=lambda wc: source_files_param(S.sed.models[wc.sed_model]["source"]),
        window=S.sed.window,
        stride=S.sed.stride,
        emotions=canonical(S.emotions),
        sed_emotions=canonical(S.sed.emotions),
        probe=get_diarize_probe,
        device=S.device,
        seed=S.splits.seed,
        torch_threads=S.torch_threads,  # not `threads:`: results must not depend on --cores
    script:
        "../scripts/diarize.py"


rule table4_eder:
    input:
        frames=[paths.fill(paths.SED_FRAMES, sed_model=m) for m in S.sed.models],
        subset=paths.SED_SUBSET,
        responses=paths.RESPONSES,
    output:
        csv=report(f"{paths.TABLE4}.csv", caption="../report/table4.rst", category="SED"),
        md=f"{paths.TABLE4}.md",
        tex=f"{paths.TABLE4}.tex",
        figure=report(paths.SED_TIMELINE, caption="../report/sed_timeline.rst", category="SED"),
    log:
        paths.log("table4_eder"),
    benchmark:
        paths.benchmark("table4_eder")
    conda:
        ENV["sed"]
    params:
        window=S.sed.window,
        stride=S.sed.stride,
        sed_emotions=canonical(S.sed.emotions),
        corpus=S.sed.corpus,
        lenient=S.human.lenient,
    script:
        "../scripts/table4.py"
