from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.io import write_csv  # noqa: E402
from xlser.manifest import read_manifest  # noqa: E402
from xlser.splits import make_splits  # noqa: E402

s = snakemake.params.splits  # noqa: F821
df = make_splits(
    read_manifest(snakemake.input[0]),  # noqa: F821
    snakemake.params.emotions,  # noqa: F821
    s["train_per_emotion"], s["val"], s["test"], s["folds"], s.get("seed", 0),
    split_by=snakemake.params.split_by,  # noqa: F821
    corpus=snakemake.wildcards.corpus,  # noqa: F821
)
write_csv(df, snakemake.output[0])  # noqa: F821
