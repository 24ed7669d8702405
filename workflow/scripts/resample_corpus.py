from xlser.smk import setup

log = setup(snakemake)

from xlser.data.resample import resample_corpus

sm = snakemake

resample_corpus(
    sm.input[0],
    sm.output.manifest,
    sm.output.wavs,
    sample_rate=sm.params.sample_rate,
    workers=sm.threads,
)
