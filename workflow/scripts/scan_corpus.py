from xlser.smk import setup

log = setup(snakemake)

from xlser.data.corpora import scan_corpus
from xlser.io import write_csv

sm = snakemake

df = scan_corpus(sm.wildcards.corpus, dict(sm.params.corpus), list(sm.params.emotions))
write_csv(df, sm.output[0])
