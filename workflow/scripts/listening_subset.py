from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.io import write_csv  # noqa: E402
from xlser.data.manifest import read_manifest  # noqa: E402
from xlser.data.splits import listening_subset, select_dialogs  # noqa: E402

sm = snakemake  # noqa: F821

corpus = sm.wildcards.corpus
df = listening_subset(
    select_dialogs(read_manifest(sm.input[0]), sm.params.dialogs, corpus),
    sm.params.emotions,
    sm.params.per_emotion,
    sm.params.seed,
    corpus=corpus,
)
write_csv(df, sm.output[0])
