from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.data.corpora import scan_corpus  # noqa: E402
from xlser.io import write_csv  # noqa: E402

sm = snakemake  # noqa: F821

df = scan_corpus(sm.wildcards.corpus, dict(sm.params.corpus), list(sm.params.emotions))
write_csv(df, sm.output[0])
