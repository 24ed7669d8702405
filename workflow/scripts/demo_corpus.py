from xlser.smk import setup

log = setup(snakemake)

from xlser.demo.corpora import build_demo_corpus

sm = snakemake
build_demo_corpus(
    sm.output[0],
    sm.wildcards.corpus,
    dict(sm.params.spec),
    dict(sm.params.corpus),
    list(sm.params.emotions),
    sm.params.sample_rate,
    sm.params.seed,
)
