"""Table II: human UA per listener group x corpus language (mean, std, 95 % CI)."""

from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.human.tables import write_table2  # noqa: E402

out = snakemake.output  # noqa: F821
write_table2(snakemake.input[0], snakemake.params.corpora, snakemake.params.emotions,  # noqa: F821
             out.csv.removesuffix(".csv"))
