from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.demo.models import build_demo_model  # noqa: E402

build_demo_model(snakemake.output[0], dict(snakemake.params.spec))  # noqa: F821
