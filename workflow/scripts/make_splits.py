from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.data.folds import import_folds  # noqa: E402
from xlser.io import write_csv  # noqa: E402
from xlser.data.manifest import read_manifest  # noqa: E402
from xlser.data.splits import make_splits, present_emotions, select_dialogs  # noqa: E402
from xlser.contracts import read_table  # noqa: E402

sm = snakemake  # noqa: F821

inp, p, corpus = sm.input, sm.params, sm.wildcards.corpus
s = p.splits
manifest = read_manifest(inp.manifest)
stimuli = read_table(inp.listening, "listening")["utt_id"].tolist() if "listening" in inp.keys() else []
if p.folds_dir:
    present_emotions(manifest, p.emotions, corpus, p.missing_emotions)  # before the lists' unknown utterances
    df = import_folds(p.folds_dir, manifest, s["folds"], corpus=corpus, stimuli=stimuli)  # the lists, exactly
else:
    df = make_splits(
        select_dialogs(manifest, p.dialogs, corpus),
        p.emotions,
        s["train_per_emotion"], s["val"], s["test"], s["folds"], s["seed"],
        split_by=p.split_by,
        corpus=corpus,
        heldout=s["heldout"],
        exclude_from_train=stimuli,
        missing_emotions=p.missing_emotions,
        **({"random_folds": s["random_folds"]} if "random_folds" in s else {}),  # split_by random only
    )
write_csv(df, sm.output[0])
