"""Simulated demo listeners: listener table, webMUSHRA lss.csv, stimulus table, segment answers."""

from pathlib import Path

from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.human.simulate import simulate_listeners  # noqa: E402

inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
listening = {Path(p).name.removesuffix(".listening.csv"): p for p in inp.listening}
simulate_listeners(listening, par.corpora, par.emotions, par.spec, out.listeners, out.lss, out.stimuli,
                   sed_subset=inp.sed_subset or None, sed_corpus=par.sed_corpus,
                   out_segments=out.segments or None, listener_column=par.listener_column)
