"""Rule cost_table: what each rule of this run cost (and, in a rehearsal, the full-scale forecast)."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.report.cost import write_cost

sm = snakemake
files = list(sm.params.benchmarks)  # each job's benchmark file; the job's record names its rule
write_cost(
    ".",
    dict(sm.params.settings),
    sm.params.rehearsal,
    files=files,
    out={"csv": sm.output.csv, "md": sm.output.md, "png": sm.output.png},
)
log.info("wrote %s (%d jobs named)", sm.output.csv, len(files))
