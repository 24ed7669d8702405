from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.demo.pretrain import heldout_table, plot_pretraining  # noqa: E402
from xlser.io import read_csv, write_csv  # noqa: E402

sm = snakemake  # noqa: F821

names = sm.params.models
table = heldout_table(dict(zip(names, sm.input.models)), sm.params.voices,
                      seed=sm.params.seed)
write_csv(table, sm.output.table)
curves = {n: read_csv(c, ["step", "loss"]) for n, c in zip(names, sm.input.curves)}
plot_pretraining(curves, table, sm.output.figure)
log.info("held-out CTC loss (rows: model, columns: language):\n%s",
         table.pivot(index="model", columns="test_lang", values="ctc_loss").round(3))
