from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.sed.subset import make_subset  # noqa: E402

sm = snakemake  # noqa: F821
make_subset(sm.input.manifest, sm.output[0], list(sm.params.emotions), int(sm.params.per_emotion), int(sm.params.seed))
