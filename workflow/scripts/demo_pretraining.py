from xlser.smk import setup

log = setup(snakemake)

from xlser.demo.pretrain import heldout_table, plot_pretraining
from xlser.io import read_csv, write_csv

sm = snakemake

names = sm.params.models
table = heldout_table(dict(zip(names, sm.input.models)), sm.params.voices, seed=sm.params.seed)
write_csv(table, sm.output.table)
curves = {n: read_csv(c, ["step", "loss"]) for n, c in zip(names, sm.input.curves)}
plot_pretraining(curves, table, sm.output.figure)
log.info(
    "held-out CTC loss (rows: model, columns: language):\n%s",
    table.pivot(index="model", columns="test_lang", values="ctc_loss").round(3),
)
