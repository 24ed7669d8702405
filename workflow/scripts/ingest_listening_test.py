"""Listening-test answers (webMUSHRA lss.csv + long CSVs) -> results/human/responses.csv."""

from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.human.ingest import ingest, manifests_by_corpus  # noqa: E402
from xlser.io import write_csv  # noqa: E402

sm = snakemake  # noqa: F821

inp, par = sm.input, sm.params
manifests = manifests_by_corpus(list(inp.manifests) + ([inp.sed_manifest] if inp.get("sed_manifest") else []))
responses, drops = ingest(list(inp.lss), list(inp.responses), inp.listeners, inp.stimuli, manifests, par.emotions,
                          listener_column=par.listener_column, lenient=par.lenient, simulated=par.simulated,
                          min_answered=par.min_answered)
write_csv(responses, sm.output[0])
