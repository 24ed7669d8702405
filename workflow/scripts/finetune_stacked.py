"""Fine-tune the folds of one (model, train, test, strategy) together: thin wrapper over xlser.peft.stack."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.peft.job import jobs_from_rule
from xlser.peft.stack import run_stacked

sm = snakemake
run_stacked(
    jobs_from_rule(
        sm.wildcards,
        sm.input,
        sm.params,
        sm.output,
        fresh_start=bool(sm.resources.get("fresh_start", 0)),  # -F / -R finetune_stacked: no fold resumes
        job_threads=sm.threads,  # on CUDA it computes with all of them, on CPU with torch_threads
    )
)
