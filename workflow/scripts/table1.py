"""Table I (PEFT strategies): thin wrapper over xlser.peft.table1."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.peft.settings import Layer
from xlser.peft.table1 import table1

sm = snakemake
i, p = sm.input, sm.params
probe = dict(p.probe)  # no_peft: probe: the experiments (in the order of the probe inputs), their layers, the folds
paths = getattr(i, "probe", []) if probe else []
paths = [paths] if isinstance(paths, str) else list(paths)
exps = [(e["model"], e["train"], e["test"]) for e in probe.get("experiments", [])]
best = getattr(i, "best_layers", None) if probe else None
table1(
    list(i.metrics),
    sm.output.csv,
    no_peft=p.no_peft,
    probe_scores=dict(zip(exps, paths)) or None,
    probe_layers={x: Layer.from_param(e["layer"]) for x, e in zip(exps, probe.get("experiments", []))} or None,
    best_layers=best or None,
    folds=probe.get("folds", ()),
)
