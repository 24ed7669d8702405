from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.data.resample import resample_corpus  # noqa: E402

sm = snakemake  # noqa: F821

resample_corpus(
    sm.input[0],
    sm.output.manifest,
    sm.output.wavs,
    sample_rate=sm.params.sample_rate,
    workers=sm.threads,
)
