from xlser.smk import setup

log = setup(snakemake)

from xlser.config import Optim
from xlser.device import compute_threads, resolve_device
from xlser.sed.backends import diarize

sm = snakemake
probe = Optim(**sm.params.probe) if sm.params.probe else None  # the frame head's; None: nothing to train
diarize(
    sm.input.subset,
    sm.input.manifest,
    sm.output[0],
    sm.wildcards.sed_model,
    dict(sm.params.spec),
    float(sm.params.window),
    float(sm.params.stride),
    list(sm.params.sed_emotions),
    probe,
    sm.params.device,
    int(sm.params.seed),
    list(sm.input.train_manifests),
    # on CPU torch_threads (frames must not depend on the job's CPUs), on CUDA every CPU it holds
    threads=compute_threads(resolve_device(sm.params.device), int(sm.params.torch_threads), sm.threads),
)
