from xlser.smk import setup

log = setup(snakemake)

from xlser.contracts import read_table
from xlser.data.folds import import_folds
from xlser.data.manifest import read_manifest
from xlser.data.splits import make_splits, present_emotions, select_dialogs
from xlser.io import write_csv

sm = snakemake

inp, p, corpus = sm.input, sm.params, sm.wildcards.corpus
s = p.splits
manifest = read_manifest(inp.manifest)
# a Namedlist: `in` would test its values, `.keys()` its names
stimuli = read_table(inp.listening, "listening")["utt_id"].tolist() if "listening" in inp.keys() else []  # noqa: SIM118
if p.folds_dir:
    present_emotions(manifest, p.emotions, corpus, p.missing_emotions)  # before the lists' unknown utterances
    df = import_folds(p.folds_dir, manifest, s["folds"], corpus=corpus, stimuli=stimuli)  # the lists, exactly
else:
    df = make_splits(
        select_dialogs(manifest, p.dialogs, corpus),
        p.emotions,
        s["train_per_emotion"],
        s["val"],
        s["test"],
        s["folds"],
        s["seed"],
        split_by=p.split_by,
        corpus=corpus,
        heldout=s["heldout"],
        exclude_from_train=stimuli,
        missing_emotions=p.missing_emotions,
        **({"random_folds": s["random_folds"]} if "random_folds" in s else {}),  # split_by random only
    )
write_csv(df, sm.output[0])
