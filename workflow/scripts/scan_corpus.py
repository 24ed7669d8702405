from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.corpora import scan_corpus  # noqa: E402
from xlser.io import write_csv  # noqa: E402

df = scan_corpus(snakemake.wildcards.corpus, dict(snakemake.params.corpus), list(snakemake.params.emotions))  # noqa: F821
write_csv(df, snakemake.output[0])  # noqa: F821
