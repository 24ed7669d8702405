# Parameter-efficient fine-tuning (the study's Table I). The GPU stage.


rule finetune:
    input:
        best_layers=finetune_best_layers,
        model=model_input,
        manifests=lambda wc: [manifest(c) for c in _stage_corpora(wc)],
        splits=lambda wc: [splits(c) for c in _stage_corpora(wc)],
        listening=stimuli_input,
    output:
        metrics="results/peft/{model}/{train}__{test}/{strategy}/fold{fold}/metrics.json",
        predictions="results/peft/{model}/{train}__{test}/{strategy}/fold{fold}/predictions.csv",
        adapter="results/peft/{model}/{train}__{test}/{strategy}/fold{fold}/adapter.safetensors",
        stimuli="results/peft/{model}/{train}__{test}/{strategy}/fold{fold}/stimuli.csv",
    log:
        "logs/peft/{model}/{train}__{test}/{strategy}/fold{fold}.log",
    benchmark:
        "results/benchmarks/peft/{model}/{train}__{test}/{strategy}/fold{fold}.tsv"
    conda:
        ENV["gpu"]
    threads: config["gpu_job_threads"]  # CPU threads reserved; compute uses torch_threads
    resources:
        gpu=1,
        mem_mb=24000,
        runtime=720,
        # 1 when this run forces fine-tuning (-F, -R finetune): start over, never resume
        fresh_start=lambda wc: int(forced_rerun(workflow.dag_settings, "finetune", "results/peft/")),
    params:
        source=lambda wc: model_source(wc.model),
        source_files=lambda wc: checkpoint_param(model_source(wc.model)),  # a local folder overwritten re-plans
        setting=experiment_setting,
        layer=lambda wc: finetune_layer(wc).as_param(),
        stage_corpus=lambda wc: S.source_corpus(wc.model) if wc.strategy == "two_stage" else None,
        optim=canonical(vars(S.peft_optim)) if S.peft_optim else {},
        finetune=lambda wc: as_params(finetune_settings(wc)[0]),
        lora=lambda wc: as_params(finetune_settings(wc)[1]),
        adapter=lambda wc: as_params(finetune_settings(wc)[2]),
        head=S.section("probe")["head"],
        emotions=EMOTIONS,
        device=S.device,
        # not an output: Snakemake would delete it before a re-run, and resuming needs it
        checkpoint_dir="results/checkpoints/peft/{model}/{train}__{test}/{strategy}/fold{fold}",
    script:
        "../scripts/finetune.py"


rule table1_peft:
    input:
        **table1_probe_inputs(),
        metrics=peft_metrics(),
    output:
        **{
            ext: report(
                f"results/tables/table1_peft.{ext}",
                caption="../report/table1.rst",
                category="PEFT",
            )
            for ext in ("csv", "md", "tex")
        },
    log:
        "logs/peft/table1.log",
    benchmark:
        "results/benchmarks/peft/table1.tsv"
    conda:
        ENV["stats"]
    params:
        no_peft=PEFT["table1"]["no_peft"],
        probe=table1_probe_params(),
    script:
        "../scripts/table1.py"


rule table1:
    input:
        lambda wc: rests_on(rules.table1_peft.output),  # and every file it rests on (common.smk: rests_on)
