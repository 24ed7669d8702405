from xlser.smk import setup

log = setup(snakemake)

from xlser.contracts import read_table, validate_table
from xlser.data.manifest import read_manifest
from xlser.device import resolve_device
from xlser.io import write_csv
from xlser.layerwise.features import load_features
from xlser.layerwise.probe import ProbeConfig, probe_experiment

sm = snakemake
tr_ids, tr_X, _ = load_features(sm.input.train_features)
te_ids, te_X, _ = load_features(sm.input.test_features)
info = {
    "model": sm.wildcards.model,
    "setting": sm.params.setting,
    "train": sm.wildcards.train,
    "test": sm.wildcards.test,
}
scores, preds = probe_experiment(
    (tr_ids, tr_X),
    (te_ids, te_X),
    read_manifest(sm.input.train_manifest),
    read_manifest(sm.input.test_manifest),
    read_table(sm.input.train_splits, "splits"),
    read_table(sm.input.test_splits, "splits"),
    sm.params.emotions,
    ProbeConfig.from_section(sm.params.probe),
    info,
    resolve_device(sm.params.device),
    val_on=sm.params.val_on,
    threads=int(sm.params.torch_threads),
)
write_csv(validate_table(scores, "layerwise"), sm.output.scores)
write_csv(validate_table(preds, "predictions"), sm.output.predictions)
