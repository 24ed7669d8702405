from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.resample import resample_corpus  # noqa: E402

resample_corpus(
    snakemake.input[0],  # noqa: F821
    snakemake.output.manifest,  # noqa: F821
    snakemake.output.wavs,  # noqa: F821
    sample_rate=snakemake.params.sample_rate,  # noqa: F821
    workers=snakemake.threads,  # noqa: F821
)
