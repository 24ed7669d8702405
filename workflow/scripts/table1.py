"""Table I (PEFT strategies): thin wrapper over xlser.peft.table1."""

from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.peft.table1 import table1  # noqa: E402

sm = snakemake  # noqa: F821
table1(list(sm.input.metrics), sm.output.csv)
