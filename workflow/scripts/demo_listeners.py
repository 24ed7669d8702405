"""Simulated demo listeners answer the workflow's listening kits: listener table, one webMUSHRA
lss.csv per kit, segment answers (xlser.human.simulate)."""

from pathlib import Path

from xlser.smk import setup

log = setup(snakemake)

from xlser.human.simulate import answer_kits

sm = snakemake

inp, out, par = sm.input, sm.output, sm.params
listening = {Path(p).name.removesuffix(".listening.csv"): p for p in inp.listening}
kits = {Path(p).stem: Path(p).parent.parent for p in inp.kits}  # <kit>/configs/<testId>.yaml
lss = {Path(p).parent.name: p for p in out.lss}  # webMUSHRA's results/<testId>/lss.csv
answer_kits(
    kits,
    listening,
    par.corpora,
    par.emotions,
    par.spec,
    out.listeners,
    lss,
    test_groups=par.test_groups,
    sed_subset=inp.sed_subset or None,
    sed_corpus=par.sed_corpus,
    out_segments=out.segments or None,
    listener_column=par.listener_column,
)
