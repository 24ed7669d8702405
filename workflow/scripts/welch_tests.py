"""t-tests on per-listener precision/recall/F1 (Welch's and Student's): groups on a corpus, a group
across corpora, groups on answers pooled across corpora; the study's four tests first."""

from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.human.welch import write_welch  # noqa: E402

out = snakemake.output  # noqa: F821
write_welch(snakemake.input[0], snakemake.params.corpora, snakemake.params.emotions, out.csv, out.md)  # noqa: F821
