"""t-tests on per-listener precision/recall/F1 (Welch's and Student's): groups on a corpus, a group
across corpora, groups on answers pooled across corpora; the study's four tests first."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.human.welch import write_welch

sm = snakemake

out = sm.output
write_welch(sm.input[0], sm.params.corpora, sm.params.emotions, out.csv, out.md)
