from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.io import write_csv  # noqa: E402
from xlser.manifest import read_manifest  # noqa: E402
from xlser.splits import listening_subset, select_dialogs  # noqa: E402

corpus = snakemake.wildcards.corpus  # noqa: F821
df = listening_subset(
    select_dialogs(read_manifest(snakemake.input[0]), snakemake.params.dialogs, corpus),  # noqa: F821
    snakemake.params.emotions,  # noqa: F821
    snakemake.params.per_emotion,  # noqa: F821
    snakemake.params.seed,  # noqa: F821
    corpus=corpus,
)
write_csv(df, snakemake.output[0])  # noqa: F821
