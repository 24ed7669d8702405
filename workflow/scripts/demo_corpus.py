from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.demo.corpora import build_demo_corpus  # noqa: E402

sm = snakemake  # noqa: F821
build_demo_corpus(sm.output[0], sm.wildcards.corpus, dict(sm.params.spec), dict(sm.params.corpus),
                  list(sm.params.emotions), sm.params.sample_rate, sm.params.seed)
