# The embedded demo: synthetic corpora (eSpeak NG) in the real corpora's layouts, tiny
# models of the real Hugging Face classes, simulated listeners in webMUSHRA's format.


include: "functions/demo.smk"


rule demo_corpus:
    output:
        directory(paths.DEMO_CORPUS),
    log:
        paths.log("demo_corpus"),
    benchmark:
        paths.benchmark("demo_corpus")
    conda:
        ENV["data"]
    threads: 1  # one eSpeak NG process, resampling on one torch thread (xlser.demo.corpora)
    params:
        spec=lambda wc: canonical(S.demo.corpora[wc.corpus]),
        corpus=lambda wc: S.corpora[wc.corpus].scan_spec,
        emotions=sorted(S.emotions),  # the set: a demo corpus does not depend on the emotions' order
        sample_rate=S.demo.sample_rate,
        seed=S.demo.seed,
    script:
        "../scripts/demo_corpus.py"


rule demo_model:
    output:
        model=directory(paths.DEMO_MODEL),
        curve=paths.DEMO_PRETRAIN_CURVE,
    log:
        paths.log("demo_model"),
    benchmark:
        paths.benchmark("demo_model")
    conda:
        ENV["gpu"]
    params:
        spec=lambda wc: canonical(S.demo.models[wc.model]),
        pretrain=get_demo_model_pretrain,
    script:
        "../scripts/demo_model.py"


if S.demo.pretrained_models:

    rule demo_pretraining:
        input:
            models=[paths.fill(paths.DEMO_MODEL, model=m) for m in S.demo.pretrained_models],
            curves=[paths.fill(paths.DEMO_PRETRAIN_CURVE, model=m) for m in S.demo.pretrained_models],
        output:
            table=paths.DEMO_PRETRAINING,
            figure=report(
                paths.DEMO_PRETRAINING_FIGURE,
                category="Demo",
                caption="../report/demo_pretraining.rst",
            ),
        log:
            paths.log("demo_pretraining"),
        benchmark:
            paths.benchmark("demo_pretraining")
        conda:
            ENV["gpu"]
        params:
            models=S.demo.pretrained_models,
            voices=canonical(S.demo.pretrain.heldout_voices),
            seed=S.demo.seed,
        script:
            "../scripts/demo_pretraining.py"


if S.demo.listeners is not None:

    rule demo_listeners:
        input:
            manifests=[manifest_path(c) for c in S.listening_corpora],
            listening=[listening_path(c) for c in S.listening_corpora],
            sed_subset=paths.SED_DRAW if S.sed.corpus else [],  # the SED utterances played
            kits=kit_paths(paths.KIT_CONFIG),  # the listening kits they answer (rules/human.smk)
            kit_stimuli=kit_paths(paths.KIT_STIMULI),
        output:
            listeners=S.human.listeners,
            lss=lss_paths(),  # webMUSHRA's results/<testId>/lss.csv
            segments=S.human.responses[0] if S.human.responses else [],
        log:
            paths.log("demo_listeners"),
        benchmark:
            paths.benchmark("demo_listeners")
        conda:
            ENV["stats"]
        params:
            spec=canonical(S.demo.listeners),
            test_groups=canonical({t: spec["groups"] for t, spec in S.human.tests.items()}),
            corpora=S.listening_langs,
            emotions=canonical(S.emotions),
            sed_corpus=S.sed.corpus,
            listener_column=S.human.listener_column,
        script:
            "../scripts/demo_listeners.py"
