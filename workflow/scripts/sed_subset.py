"""The SED subset: pinned (sed.subset), else the utterances listeners answered, else a seeded draw.
Without responses (rule sed_draw): the utterances a listening test plays."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.sed.subset import make_subset

sm = snakemake
make_subset(
    sm.input.manifest,
    sm.output[0],
    list(sm.params.emotions),
    int(sm.params.per_emotion),
    int(sm.params.seed),
    pinned_csv=sm.input.get("pinned") or None,
    responses_csv=sm.input.get("responses") or None,
    corpus=sm.params.corpus,
    lenient=bool(sm.params.lenient),
)
