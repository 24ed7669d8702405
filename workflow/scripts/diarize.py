from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.sed.backends import diarize  # noqa: E402

sm = snakemake  # noqa: F821
diarize(sm.input.subset, sm.input.manifest, sm.output[0], sm.wildcards.sed_model, dict(sm.params.spec),
        float(sm.params.window), float(sm.params.stride), list(sm.params.sed_emotions), dict(sm.params.probe),
        sm.params.device, int(sm.params.seed), list(sm.input.train_manifests))
