from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.demo.pretrain import heldout_table, plot_pretraining  # noqa: E402
from xlser.io import read_csv, write_csv  # noqa: E402

names = snakemake.params.models  # noqa: F821
table = heldout_table(dict(zip(names, snakemake.input.models)), snakemake.params.voices,  # noqa: F821
                      seed=snakemake.params.seed)  # noqa: F821
write_csv(table, snakemake.output.table)  # noqa: F821
curves = {n: read_csv(c, ["step", "loss"]) for n, c in zip(names, snakemake.input.curves)}  # noqa: F821
plot_pretraining(curves, table, snakemake.output.figure)  # noqa: F821
log.info("held-out CTC loss (rows: model, columns: language):\n%s",
         table.pivot(index="model", columns="test_lang", values="ctc_loss").round(3))
