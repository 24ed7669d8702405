# The embedded demo: synthetic corpora (eSpeak NG) in the real corpora's layouts, tiny
# models of the real Hugging Face classes, simulated listeners in webMUSHRA's format.


rule demo_corpus:
    output:
        directory("resources/demo/corpora/{corpus}"),
    log:
        "logs/demo/corpus_{corpus}.log",
    benchmark:
        "results/benchmarks/demo/corpus_{corpus}.tsv"
    conda:
        ENV["data"]
    threads: 2
    params:
        spec=lambda wc: canonical(DEMO["corpora"][wc.corpus]),
        corpus=lambda wc: S.corpora[wc.corpus].scan_spec,
        emotions=EMOTIONS,
        sample_rate=DEMO.get("sample_rate"),
        seed=DEMO.get("seed"),
    script:
        "../scripts/demo_corpus.py"


# A demo model with a `voice` is pre-trained on its language (CTC on eSpeak NG's phonemes,
# xlser.demo.pretrain) and saved as a ForCTC checkpoint; without one it keeps random
# weights (its loss curve is then a bare header).
PRETRAINED_DEMO_MODELS = sorted(m for m, s in DEMO.get("models", {}).items() if s.get("voice"))


rule demo_model:
    output:
        model=directory("resources/demo/models/{model}"),
        curve="results/demo/pretrain_{model}.csv",
    log:
        "logs/demo/model_{model}.log",
    benchmark:
        "results/benchmarks/demo/model_{model}.tsv"
    conda:
        ENV["gpu"]
    params:
        spec=lambda wc: canonical(DEMO["models"][wc.model]),
        pretrain=lambda wc: (
            canonical({k: DEMO["pretrain"][k] for k in ("steps", "batch_size", "lr", "voices")})
            if DEMO["models"][wc.model].get("voice")
            else None
        ),
    script:
        "../scripts/demo_model.py"


if PRETRAINED_DEMO_MODELS:

    rule demo_pretraining:
        input:
            models=expand("resources/demo/models/{model}", model=PRETRAINED_DEMO_MODELS),
            curves=expand("results/demo/pretrain_{model}.csv", model=PRETRAINED_DEMO_MODELS),
        output:
            table="results/demo/pretraining.csv",
            figure=report(
                "results/figures/demo_pretraining.png",
                category="Demo",
                caption="../report/demo_pretraining.rst",
            ),
        log:
            "logs/demo/pretraining.log",
        benchmark:
            "results/benchmarks/demo/pretraining.tsv"
        conda:
            ENV["gpu"]
        params:
            models=PRETRAINED_DEMO_MODELS,
            voices=DEMO["pretrain"]["heldout_voices"],
            seed=DEMO.get("seed"),
        script:
            "../scripts/demo_pretraining.py"


if "listeners" in DEMO:

    rule demo_listeners:
        input:
            manifests=expand("results/corpora/{corpus}/manifest.csv", corpus=LISTENING_CORPORA),
            listening=expand("results/splits/{corpus}.listening.csv", corpus=LISTENING_CORPORA),
            sed_subset="results/sed/draw.csv" if SED.get("corpus") else [],  # the SED utterances played
            kits=kit_files("config"),  # the listening kits they answer (rules/human.smk)
            kit_stimuli=kit_files("stimuli"),
        output:
            listeners=HUMAN["listeners"],
            lss=[f"{d}/lss.csv" for d in HUMAN["webmushra"]],  # webMUSHRA's results/<testId>/lss.csv
            segments=HUMAN["responses"][0] if HUMAN.get("responses") else [],
        log:
            "logs/demo/listeners.log",
        benchmark:
            "results/benchmarks/demo/listeners.tsv"
        conda:
            ENV["stats"]
        params:
            spec=canonical(DEMO["listeners"]),
            test_groups=canonical({t: KIT_TESTS[t]["groups"] for t in KIT_TESTS}),
            corpora=LANGS,
            emotions=EMOTIONS,
            sed_corpus=SED.get("corpus"),
            listener_column=HUMAN.get("listener_column"),
        script:
            "../scripts/demo_listeners.py"
