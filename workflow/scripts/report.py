"""Rule report_html: the static HTML report, a document of every table and figure."""

from xlser.smk import setup

log = setup(snakemake)

import os
from pathlib import Path

from xlser.report.document import Meta, build_report, code_version, now

sm = snakemake
repo = Path(sm.scriptdir).resolve().parents[1]  # workflow/scripts -> the repository
captions = {p.stem: p.read_text(encoding="utf-8") for p in sorted((repo / "workflow" / "report").glob("*.rst"))}
out = Path(sm.output[0])
build_report(
    inputs=dict(sm.input.items()),  # only the configured sections' tables and figures
    out_path=out,
    demo=bool(sm.params.demo),
    simulated=bool(sm.params.simulated),
    rehearsal=bool(sm.params.rehearsal),
    meta=Meta(configfiles=list(sm.params.configfiles), generated=now(), code=code_version(repo)),
    captions=captions,
    docs=Path(os.path.relpath(repo / "docs", out.resolve().parent)).as_posix(),
)
log.info("wrote %s", out)
