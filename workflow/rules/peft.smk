# Parameter-efficient fine-tuning (the study's Table I). The GPU stage.


include: "functions/peft.smk"


rule finetune:
    input:
        best_layers=get_finetune_best_layers,
        model=get_model_dir,
        manifests=lambda wc: [manifest_path(c) for c in get_finetune_corpora(wc)],
        splits=lambda wc: [splits_path(c) for c in get_finetune_corpora(wc)],
        listening=get_finetune_listening,
    output:
        metrics=paths.PEFT_METRICS,
        predictions=paths.PEFT_PREDICTIONS,
        adapter=paths.PEFT_ADAPTER,
        stimuli=paths.PEFT_STIMULI,
    log:
        paths.log("finetune"),
    benchmark:
        paths.benchmark("finetune")
    conda:
        ENV["gpu"]
    threads: S.gpu_job_threads  # on CPU torch_threads (the default), on CUDA all it holds (xlser.device)
    resources:
        mem_mb=24000,
        runtime=720,
        # 1 when this run forces fine-tuning (-F, -R finetune): start over, never resume
        fresh_start=lambda wc: int(forced_rerun(workflow.dag_settings, "finetune", paths.root(paths.PEFT_JOB))),
    params:
        source=lambda wc: S.model_source(wc.model),
        source_files=lambda wc: source_files_param(S.model_source(wc.model)),  # a local folder overwritten re-plans
        setting=lambda wc: S.experiment(wc.model, wc.train, wc.test).setting,
        layer=lambda wc: get_finetune_layer(wc).as_param(),
        stage_corpus=lambda wc: S.source_corpus(wc.model) if wc.strategy == "two_stage" else None,
        optim=canonical(vars(S.peft.optim)) if S.peft.optim else {},
        finetune=lambda wc: as_params(get_finetune_settings(wc)[0]),
        lora=lambda wc: as_params(get_finetune_settings(wc)[1]),
        adapter=lambda wc: as_params(get_finetune_settings(wc)[2]),
        head=S.probe.head,
        emotions=canonical(S.emotions),
        device=S.device,
        # not an output: Snakemake would delete it before a re-run, and resuming needs it
        checkpoint_dir=paths.PEFT_CHECKPOINT,
    script:
        "../scripts/finetune.py"


rule table1_peft:
    input:
        **get_table1_peft_probe_inputs(),
        metrics=peft_paths(paths.PEFT_METRICS),
    output:
        **{
            ext: report(f"{paths.TABLE1}.{ext}", caption="../report/table1.rst", category="PEFT")
            for ext in ("csv", "md", "tex")
        },
    log:
        paths.log("table1_peft"),
    benchmark:
        paths.benchmark("table1_peft")
    conda:
        ENV["stats"]
    params:
        no_peft=S.peft.no_peft,
        probe=get_table1_peft_probe_params(),
    script:
        "../scripts/table1.py"
