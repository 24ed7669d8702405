"""Table II: human UA per listener group x corpus language (mean, std, 95 % CI)."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.human.tables import write_table2

sm = snakemake

out = sm.output
write_table2(sm.input[0], sm.params.corpora, sm.params.emotions, out.csv.removesuffix(".csv"))
