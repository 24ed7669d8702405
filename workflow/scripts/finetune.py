"""Fine-tune one (model, train, test, strategy, fold): thin wrapper over xlser.peft.train."""

from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.peft.train import run_finetune  # noqa: E402

w, p, o = snakemake.wildcards, snakemake.params, snakemake.output  # noqa: F821
run_finetune(
    best_layers=snakemake.input.best_layers,  # noqa: F821
    source=p.source, manifests=list(snakemake.input.manifests), splits=list(snakemake.input.splits),  # noqa: F821
    model=w.model, train=w.train, test=w.test, strategy=w.strategy, fold=int(w.fold), setting=p.setting,
    stage_corpus=p.stage_corpus, peft=dict(p.peft), head=p.head, emotions=list(p.emotions), device=p.device,
    checkpoint_dir=p.checkpoint_dir, out_metrics=o.metrics, out_predictions=o.predictions, out_adapter=o.adapter,
)
