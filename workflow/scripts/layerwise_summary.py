from xlser.smk import setup

log = setup(snakemake)

from xlser.layerwise.summary import layerwise_summary

sm = snakemake
layerwise_summary(sm.input, sm.output.table, sm.output.best, sm.output.png, sm.output.pdf, dict(sm.params.langs))
