from xlser.smk import setup

log = setup(snakemake)

from xlser.data.manifest import read_manifest
from xlser.device import compute_threads, resolve_device, torch_threads
from xlser.layerwise.features import extract_features, save_features

sm = snakemake
# on CPU torch_threads (features must not depend on the job's CPUs), on CUDA every CPU it holds
with torch_threads(compute_threads(resolve_device(sm.params.device), sm.params.torch_threads, sm.threads)):
    ids, X, meta = extract_features(
        read_manifest(sm.input.manifest),
        sm.params.source,
        sm.params.device,
        sm.params.max_batch_seconds,
        precision=sm.params.precision,
        top_layer_norm=sm.params.top_layer_norm,
        batching=sm.params.batching,
        dtype=sm.params.dtype,
    )
save_features(sm.output[0], ids, X, meta)
log.info("%d utterances, %d hidden states of dim %d, stored as %s", X.shape[0], X.shape[1], X.shape[2], X.dtype)
