# Listening tests (the study's Tables II and III and its Welch's t-tests).


include: "functions/human.smk"


rule build_listening_kit:
    input:
        listening=lambda wc: [listening_path(c) for c in get_build_listening_kit_corpora(wc)],
        manifests=lambda wc: [manifest_path(c) for c in get_build_listening_kit_corpora(wc)],
    output:
        # the audio (configs/resources/audio/{kit}/) is written with the config, never a directory()
        # output: Snakemake would drop its .snakemake_timestamp into the folder users copy into webMUSHRA
        config=paths.KIT_CONFIG,
        stimuli=paths.KIT_STIMULI,
        readme=paths.KIT_README,
    log:
        paths.log("build_listening_kit"),
    benchmark:
        paths.benchmark("build_listening_kit")
    wildcard_constraints:
        kit=_alt(S.human.tests),
    conda:
        ENV["data"]
    params:
        test=lambda wc: canonical({k: v for k, v in S.human.tests[wc.kit].items() if k != "corpora"}),
        emotions=canonical(S.emotions),
        listener_column=S.human.listener_column,
    script:
        "../scripts/listening_kit.py"


rule ingest_listening_test:
    input:
        unpack(get_ingest_listening_test_inputs),
    output:
        paths.RESPONSES,
    log:
        paths.log("ingest_listening_test"),
    benchmark:
        paths.benchmark("ingest_listening_test")
    conda:
        ENV["stats"]
    params:
        emotions=canonical(S.emotions),
        lenient=S.human.lenient,
        min_answered=S.human.min_answered,
        simulated=S.demo.listeners is not None,
        listener_column=S.human.listener_column,
    script:
        "../scripts/ingest_listening_test.py"


rule table2_human_ua:
    input:
        paths.RESPONSES,
    output:
        csv=report(f"{paths.TABLE2}.csv", caption="../report/table2.rst", category="Humans"),
        md=f"{paths.TABLE2}.md",
        tex=f"{paths.TABLE2}.tex",
    log:
        paths.log("table2_human_ua"),
    benchmark:
        paths.benchmark("table2_human_ua")
    conda:
        ENV["stats"]
    params:
        emotions=canonical(S.emotions),
        corpora=S.listening_langs,
    script:
        "../scripts/table2.py"


rule table3_confusions:
    input:
        responses=paths.RESPONSES,
        predictions=get_table3_confusions_predictions,
        stimuli=get_table3_confusions_stimuli,
    output:
        csv=report(f"{paths.TABLE3}.csv", caption="../report/table3.rst", category="Humans"),
        md=f"{paths.TABLE3}.md",
        tex=f"{paths.TABLE3}.tex",
        png=report(f"{paths.TABLE3_FIGURE}.png", caption="../report/table3.rst", category="Humans"),
        pdf=f"{paths.TABLE3_FIGURE}.pdf",
    log:
        paths.log("table3_confusions"),
    benchmark:
        paths.benchmark("table3_confusions")
    conda:
        ENV["stats"]
    params:
        emotions=canonical(S.emotions),
        corpora=S.listening_langs,
        models=canonical({m: {"lang": v.lang} for m, v in S.models.items()}),
        experiments=get_table3_confusions_experiments,
        source=lambda wc: S.human.table3.source,
        strategy=lambda wc: S.human.table3.strategy,
        combine=lambda wc: S.human.table3.combine,
    script:
        "../scripts/table3.py"


rule welch_tests:
    input:
        paths.RESPONSES,
    output:
        csv=report(f"{paths.WELCH}.csv", caption="../report/welch.rst", category="Humans"),
        md=f"{paths.WELCH}.md",
    log:
        paths.log("welch_tests"),
    benchmark:
        paths.benchmark("welch_tests")
    conda:
        ENV["stats"]
    params:
        emotions=canonical(S.emotions),
        corpora=S.listening_langs,
    script:
        "../scripts/welch_tests.py"
