# Listening tests (the study's Tables II and III and its Welch's t-tests).

# ---- the tests listeners take: one webMUSHRA kit per `human.tests` item (results/listening_kit/<id>/)


rule build_listening_kit:
    input:
        listening=lambda wc: [listening(c) for c in kit_corpora(wc.kit)],
        manifests=lambda wc: [manifest(c) for c in kit_corpora(wc.kit)],
    output:
        # the audio (configs/resources/audio/{kit}/) is written with the config, never a directory()
        # output: Snakemake would drop its .snakemake_timestamp into the folder users copy into webMUSHRA
        config="results/listening_kit/{kit}/configs/{kit}.yaml",
        stimuli="results/listening_kit/{kit}/stimuli.csv",
        readme="results/listening_kit/{kit}/README.md",
    log:
        "logs/human/listening_kit_{kit}.log",
    benchmark:
        "results/benchmarks/human/listening_kit_{kit}.tsv"
    wildcard_constraints:
        kit=_alt(KIT_TESTS),
    conda:
        ENV["data"]
    params:
        test=lambda wc: canonical({k: v for k, v in KIT_TESTS[wc.kit].items() if k != "corpora"}),
        emotions=EMOTIONS,
        listener_column=HUMAN.get("listener_column"),
    script:
        "../scripts/listening_kit.py"


rule listening_kit:
    input:
        lambda wc: rests_on(kit_files("config") + kit_files("stimuli")),  # and every file it rests on (common.smk: rests_on)


rule ingest_listening_test:
    input:
        lss=[f"{d}/lss.csv" for d in HUMAN.get("webmushra", [])],
        responses=HUMAN.get("responses", []),
        listeners=HUMAN.get("listeners", []),
        stimuli=([HUMAN["stimuli"]] if HUMAN.get("stimuli") else []) + kit_files("stimuli"),
        manifests=expand("results/corpora/{corpus}/manifest.csv", corpus=LISTENING_CORPORA),
        sed_manifest=manifest(SED["corpus"]) if SED.get("corpus") else [],
    output:
        "results/human/responses.csv",
    log:
        "logs/human/ingest.log",
    benchmark:
        "results/benchmarks/human/ingest.tsv"
    conda:
        ENV["stats"]
    params:
        emotions=EMOTIONS,
        lenient=HUMAN.get("lenient"),
        min_answered=HUMAN.get("min_answered"),
        simulated="listeners" in DEMO,
        listener_column=HUMAN.get("listener_column"),
    script:
        "../scripts/ingest_listening_test.py"


rule table2_human_ua:
    input:
        "results/human/responses.csv",
    output:
        csv=report("results/tables/table2_human_ua.csv", caption="../report/table2.rst", category="Humans"),
        md="results/tables/table2_human_ua.md",
        tex="results/tables/table2_human_ua.tex",
    log:
        "logs/human/table2.log",
    benchmark:
        "results/benchmarks/human/table2.tsv"
    conda:
        ENV["stats"]
    params:
        emotions=EMOTIONS,
        corpora=LANGS,
    script:
        "../scripts/table2.py"


rule table3_confusions:
    input:
        responses="results/human/responses.csv",
        predictions=lambda wc: layerwise_predictions() if HUMAN["table3"]["source"] == "probe" else [],
        stimuli=table3_stimuli,
    output:
        csv=report("results/tables/table3_confusions.csv", caption="../report/table3.rst", category="Humans"),
        md="results/tables/table3_confusions.md",
        tex="results/tables/table3_confusions.tex",
        png=report("results/figures/table3_confusions.png", caption="../report/table3.rst", category="Humans"),
        pdf="results/figures/table3_confusions.pdf",
    log:
        "logs/human/table3.log",
    benchmark:
        "results/benchmarks/human/table3.tsv"
    conda:
        ENV["stats"]
    params:
        emotions=EMOTIONS,
        corpora=LANGS,
        models=canonical({m: {"lang": v.lang} for m, v in S.models.items()}),
        experiments=lambda wc: [
            vars(e) for e in (EXPERIMENTS if HUMAN["table3"]["source"] == "probe" else S.peft_experiments)
        ],
        source=lambda wc: HUMAN["table3"]["source"],
        strategy=lambda wc: HUMAN["table3"]["strategy"] if HUMAN["table3"]["source"] == "finetune" else "probe",
        combine=lambda wc: HUMAN["table3"]["combine"] if HUMAN["table3"]["source"] == "finetune" else "average",
    script:
        "../scripts/table3.py"


rule welch_tests:
    input:
        "results/human/responses.csv",
    output:
        csv=report("results/stats/welch_tests.csv", caption="../report/welch.rst", category="Humans"),
        md="results/stats/welch_tests.md",
    log:
        "logs/human/welch.log",
    benchmark:
        "results/benchmarks/human/welch.tsv"
    conda:
        ENV["stats"]
    params:
        emotions=EMOTIONS,
        corpora=LANGS,
    script:
        "../scripts/welch_tests.py"


rule table2:
    input:
        lambda wc: rests_on(rules.table2_human_ua.output),  # and every file it rests on (common.smk: rests_on)


rule table3:
    input:
        lambda wc: rests_on(rules.table3_confusions.output),  # and every file it rests on (common.smk: rests_on)


rule stats:
    input:
        lambda wc: rests_on(rules.welch_tests.output),  # and every file it rests on (common.smk: rests_on)
