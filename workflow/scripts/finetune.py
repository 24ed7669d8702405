"""Fine-tune one (model, train, test, strategy, fold): thin wrapper over xlser.peft.train."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.peft.job import job_from_rule
from xlser.peft.train import run_finetune

sm = snakemake
run_finetune(
    job_from_rule(
        sm.wildcards,
        sm.input,
        sm.params,
        sm.output,
        fresh_start=bool(sm.resources.get("fresh_start", 0)),  # -F / -R finetune: no resuming
        job_threads=sm.threads,  # on CUDA it computes with all of them, on CPU with torch_threads
    )
)
