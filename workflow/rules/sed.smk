# Speech emotion diarization (the study's Table IV): frame-level emotions on ZED, EDER.


rule sed_draw:
    input:
        manifest=lambda wc: manifest(SED["corpus"]),
        pinned=SED.get("subset", []),
    output:
        "results/sed/draw.csv",
    log:
        "logs/sed/draw.log",
    benchmark:
        "results/benchmarks/sed/draw.tsv"
    conda:
        ENV["sed"]
    params:
        per_emotion=SED.get("per_emotion"),
        emotions=SED.get("emotions"),
        seed=S.section("splits")["seed"],
        corpus=None,
        lenient=False,
    script:
        "../scripts/sed_subset.py"


# The subset models and listeners are scored on: `sed.subset` if pinned, else the SED-corpus
# utterances listeners answered (when any), else the draw above.
rule sed_subset:
    input:
        manifest=lambda wc: manifest(SED["corpus"]),
        pinned=SED.get("subset", []),
        responses="results/human/responses.csv" if S.has_human else [],
    output:
        "results/sed/subset.csv",
    log:
        "logs/sed/subset.log",
    benchmark:
        "results/benchmarks/sed/subset.tsv"
    conda:
        ENV["sed"]
    params:
        per_emotion=SED.get("per_emotion"),
        emotions=SED.get("emotions"),
        seed=S.section("splits")["seed"],
        corpus=SED.get("corpus"),
        lenient=HUMAN.get("lenient"),
    script:
        "../scripts/sed_subset.py"


rule diarize:
    input:
        subset="results/sed/subset.csv",
        manifest=lambda wc: manifest(SED["corpus"]),
        model=_sed_model_input,
        train_manifests=_sed_train_manifests,
    output:
        "results/sed/{sed_model}/frames.json",
    log:
        "logs/sed/{sed_model}.log",
    benchmark:
        "results/benchmarks/sed/{sed_model}.tsv"
    conda:
        ENV["sed"]
    threads: config["gpu_job_threads"]  # CPU threads reserved; compute uses torch_threads
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    params:
        spec=lambda wc: canonical(SED["models"][wc.sed_model]),
        source_files=lambda wc: checkpoint_param(SED["models"][wc.sed_model]["source"]),
        window=SED.get("window"),
        stride=SED.get("stride"),
        emotions=EMOTIONS,
        sed_emotions=SED.get("emotions"),
        probe=lambda wc: sed_probe_optim(wc.sed_model),
        device=S.device,
        seed=S.section("splits")["seed"],
        torch_threads=config["torch_threads"],  # not `threads:`: results must not depend on --cores
    script:
        "../scripts/diarize.py"


rule table4_eder:
    input:
        frames=expand("results/sed/{sed_model}/frames.json", sed_model=SED_MODELS),
        subset="results/sed/subset.csv",
        responses="results/human/responses.csv",
    output:
        csv=report("results/tables/table4_eder.csv", caption="../report/table4.rst", category="SED"),
        md="results/tables/table4_eder.md",
        tex="results/tables/table4_eder.tex",
        figure=report("results/figures/sed_timeline.png", caption="../report/sed_timeline.rst", category="SED"),
    log:
        "logs/sed/table4.log",
    benchmark:
        "results/benchmarks/sed/table4.tsv"
    conda:
        ENV["sed"]
    params:
        window=SED.get("window"),
        stride=SED.get("stride"),
        sed_emotions=SED.get("emotions"),
        corpus=SED.get("corpus"),
        lenient=HUMAN.get("lenient"),
    script:
        "../scripts/table4.py"


rule table4:
    input:
        lambda wc: rests_on(rules.table4_eder.output),  # and every file it rests on (common.smk: rests_on)
