from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.layerwise.summary import layerwise_summary  # noqa: E402

sm = snakemake  # noqa: F821
layerwise_summary(sm.input, sm.output.table, sm.output.best, sm.output.png, sm.output.pdf, dict(sm.params.langs))
