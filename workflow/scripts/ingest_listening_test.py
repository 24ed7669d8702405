"""Listening-test answers (webMUSHRA lss.csv + long CSVs) -> results/human/responses.csv."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.human.ingest import ingest, manifests_by_corpus
from xlser.io import write_csv

sm = snakemake

inp, par = sm.input, sm.params
manifests = manifests_by_corpus(list(inp.manifests) + ([inp.sed_manifest] if inp.get("sed_manifest") else []))
responses, drops = ingest(
    list(inp.lss),
    list(inp.responses),
    inp.listeners,
    inp.stimuli,
    manifests,
    par.emotions,
    listener_column=par.listener_column,
    lenient=par.lenient,
    simulated=par.simulated,
    min_answered=par.min_answered,
)
write_csv(responses, sm.output[0])
