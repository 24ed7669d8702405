# Listening tests (the study's Tables II and III and its Welch's t-tests).


rule ingest_listening_test:
    input:
        lss=[f"{d}/lss.csv" for d in HUMAN.get("webmushra", [])],
        responses=HUMAN.get("responses", []),
        listeners=HUMAN["listeners"],
        stimuli=HUMAN["stimuli"],
        manifests=expand("results/corpora/{corpus}/manifest.csv", corpus=LISTENING_CORPORA),
        sed_manifest=manifest(SED["corpus"]) if SED.get("corpus") else [],
    output:
        "results/human/responses.csv",
    params:
        emotions=EMOTIONS,
        lenient=HUMAN.get("lenient", False),
        simulated="listeners" in DEMO,
        listener_column=HUMAN.get("listener_column", "email"),
    log:
        "logs/human/ingest.log",
    benchmark:
        "results/benchmarks/human/ingest.tsv"
    conda:
        ENV["stats"]
    script:
        "../scripts/ingest_listening_test.py"


rule table2_human_ua:
    input:
        "results/human/responses.csv",
    output:
        csv=report("results/tables/table2_human_ua.csv", caption="../report/table2.rst", category="Humans"),
        md="results/tables/table2_human_ua.md",
        tex="results/tables/table2_human_ua.tex",
    params:
        emotions=EMOTIONS,
        corpora={c: config["corpora"][c] for c in LISTENING_CORPORA},
    log:
        "logs/human/table2.log",
    benchmark:
        "results/benchmarks/human/table2.tsv"
    conda:
        ENV["stats"]
    script:
        "../scripts/table2.py"


rule table3_confusions:
    input:
        responses="results/human/responses.csv",
        predictions=layerwise_predictions(),
    output:
        csv=report("results/tables/table3_confusions.csv", caption="../report/table3.rst", category="Humans"),
        md="results/tables/table3_confusions.md",
        tex="results/tables/table3_confusions.tex",
        png=report("results/figures/table3_confusions.png", caption="../report/table3.rst", category="Humans"),
        pdf="results/figures/table3_confusions.pdf",
    params:
        emotions=EMOTIONS,
        corpora={c: config["corpora"][c] for c in LISTENING_CORPORA},
        models=config.get("models", {}),
        experiments=[vars(e) for e in EXPERIMENTS],
    log:
        "logs/human/table3.log",
    benchmark:
        "results/benchmarks/human/table3.tsv"
    conda:
        ENV["stats"]
    script:
        "../scripts/table3.py"


rule welch_tests:
    input:
        "results/human/responses.csv",
    output:
        csv=report("results/stats/welch_tests.csv", caption="../report/welch.rst", category="Humans"),
        md="results/stats/welch_tests.md",
    params:
        emotions=EMOTIONS,
        corpora={c: config["corpora"][c] for c in LISTENING_CORPORA},
    log:
        "logs/human/welch.log",
    benchmark:
        "results/benchmarks/human/welch.tsv"
    conda:
        ENV["stats"]
    script:
        "../scripts/welch_tests.py"


rule table2:
    input:
        rules.table2_human_ua.output,


rule table3:
    input:
        rules.table3_confusions.output,


rule stats:
    input:
        rules.welch_tests.output,
