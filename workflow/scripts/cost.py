"""Rule cost_table: what each rule of this run cost (and, in a rehearsal, the full-scale forecast)."""

from pathlib import Path

from xlser.smk import setup

log = setup(snakemake)

from xlser.report.cost import write_cost

sm = snakemake
files = list(sm.params.benchmarks)
missing = [f for f in files if not Path(f).exists()]
if missing:
    log.warning(
        "%d of %d jobs have no benchmark file (made with --touch, or elsewhere), e.g. %s",
        len(missing),
        len(files),
        missing[0],
    )
write_cost(
    ".",
    Path(sm.scriptdir).parent / "rules",
    dict(sm.params.settings),
    sm.params.rehearsal,
    files=files,
    out={"csv": sm.output.csv, "md": sm.output.md, "png": sm.output.png},
)
log.info("wrote %s (%d jobs)", sm.output.csv, len(files) - len(missing))
