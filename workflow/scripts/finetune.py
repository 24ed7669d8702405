"""Fine-tune one (model, train, test, strategy, fold): thin wrapper over xlser.peft.train."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.config import Optim
from xlser.peft.settings import Adapter, Finetune, Layer, Lora
from xlser.peft.train import run_finetune

sm = snakemake
w, i, p, o = sm.wildcards, sm.input, sm.params, sm.output
listening = getattr(i, "listening", [])
listening = [listening] if isinstance(listening, str) else list(listening)
best = getattr(i, "best_layers", [])  # absent for a pinned layer
best = [best] if isinstance(best, str) else list(best)
run_finetune(
    best_layers=best[0] if best else None,
    layer=Layer.from_param(p.layer),
    source=p.source,
    manifests=list(i.manifests),
    splits=list(i.splits),
    listening=listening[0] if listening else None,
    model=w.model,
    train=w.train,
    test=w.test,
    strategy=w.strategy,
    fold=int(w.fold),
    setting=p.setting,
    stage_corpus=p.stage_corpus,
    optim=Optim(**p.optim),
    settings=Finetune(**p.finetune),
    lora=Lora(**p.lora) if p.lora else None,
    adapter=Adapter(**p.adapter) if p.adapter else None,
    head=p.head,
    emotions=list(p.emotions),
    device=p.device,
    checkpoint_dir=p.checkpoint_dir,
    out_metrics=o.metrics,
    out_predictions=o.predictions,
    out_adapter=o.adapter,
    out_stimuli=o.stimuli,
    fresh_start=bool(sm.resources.get("fresh_start", 0)),  # -F / -R finetune: no resuming
    job_threads=sm.threads,  # on CUDA it computes with all of them, on CPU with torch_threads
)
