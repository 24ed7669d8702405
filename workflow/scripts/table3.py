"""Table III: row-normalised confusion matrices of listener groups and matching models + heatmaps.

Model panels: the fine-tuned fold models scored on the listening stimuli (`source: finetune`)
or the layer-wise probes' pooled test folds (`source: probe`).
"""

from xlser.smk import setup

log = setup(snakemake)

from xlser.human.tables import write_table3

sm = snakemake

inp, out, par = sm.input, sm.output, sm.params
write_table3(
    inp.responses,
    list(inp.predictions),
    par.emotions,
    par.corpora,
    par.models,
    par.experiments,
    out.csv.removesuffix(".csv"),
    out.png,
    out.pdf,
    source=par.source,
    stimuli_paths=list(inp.stimuli),
    strategy=par.strategy,
    combine=par.combine,
)
