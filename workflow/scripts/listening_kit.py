"""One webMUSHRA listening-test kit: config, audio, stimulus table, README (xlser.human.kit)."""

from pathlib import Path

from xlser.smk import setup

log = setup(snakemake)

from xlser.human.kit import KitSpec, build_kit

sm = snakemake

inp, par = sm.input, sm.params
listening = {Path(p).name.removesuffix(".listening.csv"): p for p in inp.listening}
manifests = {Path(p).parent.name: p for p in inp.manifests}
out_dir = Path(sm.output.config).parent.parent  # <kit>/configs/<testId>.yaml
build_kit(
    out_dir, KitSpec.from_config(par.test), listening, manifests, par.emotions, listener_column=par.listener_column
)
