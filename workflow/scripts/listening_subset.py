from xlser.smk import setup

log = setup(snakemake)

from xlser.data.folds import training_ids
from xlser.data.manifest import read_manifest
from xlser.data.splits import listening_subset, select_dialogs
from xlser.io import write_csv

sm = snakemake

corpus = sm.wildcards.corpus
manifest = read_manifest(sm.input.manifest)
# imported fold lists stay exact: the stimuli avoid every utterance of their training partitions
trained = training_ids(sm.params.folds_dir, manifest, sm.params.folds, corpus) if sm.params.folds_dir else set()
df = listening_subset(
    select_dialogs(manifest, sm.params.dialogs, corpus),
    sm.params.emotions,
    sm.params.per_emotion,
    sm.params.seed,
    corpus=corpus,
    exclude=trained,
    missing_emotions=sm.params.missing_emotions,
)
write_csv(df, sm.output[0])
