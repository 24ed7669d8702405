# Parameter-efficient fine-tuning (the study's Table I). The GPU stage.


include: "functions/peft.smk"


# peft.training: stacked (the default) trains the folds of one experiment and strategy in one
# job; separate, one job per fold. Only one of the two rules exists in a run, and both write
# the same per-fold files (paths.PEFT_*), so Table I, Table III and the report read the same.
if S.peft.training == "stacked" and S.peft_jobs:

    rule finetune_stacked:
        input:
            **get_finetune_inputs(),
        output:
            metrics=get_finetune_stacked_outputs(paths.PEFT_METRICS),
            predictions=get_finetune_stacked_outputs(paths.PEFT_PREDICTIONS),
            adapter=get_finetune_stacked_outputs(paths.PEFT_ADAPTER),
            stimuli=get_finetune_stacked_outputs(paths.PEFT_STIMULI),
        log:
            paths.log("finetune_stacked"),
        benchmark:
            paths.benchmark("finetune_stacked")
        conda:
            ENV["gpu"]
        threads: S.gpu_job_threads  # as finetune's: the stack holds the GPU one fine-tune would
        resources:
            mem_mb=24000,
            runtime=720,
            # 1 when this run forces it (-F, -R finetune_stacked, --forcerun of a fold's output):
            # every fold starts over
            fresh_start=lambda wc: int(
                forced_rerun(workflow.dag_settings, "finetune_stacked", paths.root(paths.PEFT_JOB))
            ),
        params:
            **get_finetune_params(),
            folds=get_finetune_stacked_folds(),
            # each fold's checkpoint folder, in the order of `folds` (not outputs: see finetune's)
            checkpoint_dirs=get_finetune_stacked_checkpoint_dirs,
        script:
            "../scripts/finetune_stacked.py"

else:

    rule finetune:
        input:
            **get_finetune_inputs(),
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
            **get_finetune_params(),
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
