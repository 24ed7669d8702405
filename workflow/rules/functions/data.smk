# The data stage's input and param functions (rules: ../data.smk).
from xlser.data.folds import fold_list_paths


def get_scan_corpus_root(wildcards):
    """A demo corpus is built by `demo_corpus` (its folder is the input); a real corpus is
    made by no job: its files are tracked by `get_scan_corpus_files` instead. Its root (and any
    placeholder left in its entry) must be filled in; its fold lists are the splits' concern."""
    c = wildcards.corpus
    require_paths(f"corpora.{c}", but_not=(f"corpora.{c}.folds",))
    if wildcards.corpus in S.demo.corpora:
        return [S.corpora[wildcards.corpus].root]
    return []


def get_scan_corpus_files(wildcards):
    """Fingerprint of a real corpus's audio and label files (path, size, mtime), a param of
    `scan_corpus`: Snakemake's params trigger re-plans that corpus's scan, and all after it,
    when one of them is edited, added, removed or replaced (xlser.data.corpora.files)."""
    if wildcards.corpus in S.demo.corpora:
        return "demo corpus: its folder is an input"
    from xlser.data.corpora.files import fingerprint

    c = S.corpora[wildcards.corpus]
    return fingerprint(c.format, c.root, {k: c.spec[k] for k in ("table", "speakers") if k in c.spec})


def get_make_splits_inputs(wildcards):
    """The manifest; the listening stimuli that no training partition may hold
    (splits.exclude_stimuli); the published fold lists (corpora.<name>.folds)."""
    corpus = wildcards.corpus
    inp = {"manifest": manifest_path(corpus)}
    if S.splits.exclude_stimuli and corpus in S.listening_corpora:
        inp["listening"] = listening_path(corpus)
    if S.corpora[corpus].folds:
        require_paths(f"corpora.{corpus}.folds")
        inp["fold_lists"] = [str(p) for p in fold_list_paths(S.corpora[corpus].folds, S.splits.folds)]
    return inp


def get_make_splits_params(wildcards):
    """Only what the job uses: imported folds need the fold count alone; random_folds only
    single-speaker (split_by random) corpora."""
    corpus = S.corpora[wildcards.corpus]
    if corpus.folds:
        return S.splits.values("folds")
    keys = ("folds", "heldout", "seed", "test", "train_per_emotion", "val")
    if corpus.split_by == "random":
        keys += ("random_folds",)
    return S.splits.values(*keys)


def get_listening_subset_folds_dir(wildcards):
    """The fold-list folder the listening stimuli must avoid ('' when none is imported or the
    stimuli are not kept out of training)."""
    return S.corpora[wildcards.corpus].folds if S.splits.exclude_stimuli else ""


def get_listening_subset_inputs(wildcards):
    """The manifest; with imported fold lists and splits.exclude_stimuli, the lists too: the
    stimuli are drawn outside every imported training partition, so the lists stay exact."""
    inp = {"manifest": manifest_path(wildcards.corpus)}
    folds_dir = get_listening_subset_folds_dir(wildcards)
    if folds_dir:
        require_paths(f"corpora.{wildcards.corpus}.folds")
        inp["fold_lists"] = [str(p) for p in fold_list_paths(folds_dir, S.splits.folds)]
    return inp
