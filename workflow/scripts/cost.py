"""Rule cost_table: what each rule of this run cost (and, in a rehearsal, the full-scale forecast)."""

from pathlib import Path

from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.report.cost import write_cost  # noqa: E402

sm = snakemake  # noqa: F821
write_cost(".", Path(sm.scriptdir).parent / "rules", dict(sm.params.settings), sm.params.rehearsal,
           files=list(sm.input.benchmarks), out={"csv": sm.output.csv, "md": sm.output.md, "png": sm.output.png})
log.info("wrote %s (%d jobs)", sm.output.csv, len(sm.input.benchmarks))
