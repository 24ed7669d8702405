"""Published fold lists (`corpora.<name>.folds`): used verbatim; bad rows stop with file and line."""

from __future__ import annotations

import pandas as pd
import pytest

from xlser.data.folds import import_folds, training_ids, utterance_stem
from xlser.errors import InputError

EMO = ["angry", "happy", "neutral", "sad"]


def manifest() -> pd.DataFrame:
    ids = [f"0003_{i:06d}" for i in range(1, 41)] + ["spike0074-angry", "m0001-happy"]
    emos = [EMO[i % 4] for i in range(40)] + ["angry", "happy"]
    return pd.DataFrame({"utt_id": ids, "emotion": emos, "speaker": "0003"})


def write_lists(root, man, folds=2):
    """Fold k: test = ids 10k..10k+4, eval = next 5, train = the rest (answers in the study's spelling)."""
    ids, emo = man["utt_id"].tolist(), dict(zip(man["utt_id"], man["emotion"]))
    for k in range(folds):
        parts = {"test": ids[10 * k : 10 * k + 5], "eval": ids[10 * k + 5 : 10 * k + 10]}
        parts["train"] = [u for u in ids if u not in parts["test"] + parts["eval"]]
        for sub, us in parts.items():
            (root / sub).mkdir(parents=True, exist_ok=True)
            rows = ["file,answer"] + [f"{u}.wav,{emo[u].capitalize()}" for u in us]
            (root / sub / f"metadata_fold{k}.csv").write_text("\n".join(rows) + "\n")
    return root


def test_lists_are_used_verbatim(tmp_path):
    man = manifest()
    root = write_lists(tmp_path / "split_id" / "ESD", man)
    df = import_folds(root, man, 2, corpus="ESD")
    for k in range(2):
        for sub, part in (("train", "train"), ("eval", "val"), ("test", "test")):
            listed = pd.read_csv(root / sub / f"metadata_fold{k}.csv")["file"].str.removesuffix(".wav")
            got = df[(df["fold"] == k) & (df["partition"] == part)]["utt_id"]
            assert sorted(got) == sorted(listed)
    assert len(df) == 2 * len(man)
    # stimuli outside every training list: the lists come back exactly
    assert training_ids(root, man, 2, corpus="ESD") == set(df[df["partition"] == "train"]["utt_id"])
    assert set(df["utt_id"]) - training_ids(root, man, 2, corpus="ESD") == set()  # every id trains in some fold
    pd.testing.assert_frame_equal(import_folds(root, man, 2, corpus="ESD", stimuli=[]), df)


def test_a_stimulus_in_an_imported_training_list_stops_never_edits(tmp_path):
    man = manifest()
    root = write_lists(tmp_path / "ESD", man, folds=1)
    # 0003_000001 is in fold 0's test list: allowed; 0003_000030 is in its training list (line 21)
    assert len(import_folds(root, man, 1, corpus="ESD", stimuli=["0003_000001"])) == len(man)
    with pytest.raises(
        InputError,
        match=r"train/metadata_fold0.csv, line 21: listening stimulus '0003_000030' of "
        r"corpus ESD is in this training partition",
    ):
        import_folds(root, man, 1, corpus="ESD", stimuli=["0003_000001", "0003_000030"])


def test_pavoque_names_and_paths(tmp_path):
    assert utterance_stem("spike0074-angry.wav") == "spike0074-angry"
    assert utterance_stem("wav\\Ses02F_impro06_M009.wav") == "Ses02F_impro06_M009"
    assert utterance_stem("a/b/0003_001041.wav") == "0003_001041"


@pytest.mark.parametrize(
    "bad,msg",
    [
        (
            "0003_999999.wav,Happy",
            r"'0003_999999.wav' names utterance '0003_999999', which is not in corpus ESD's manifest",
        ),
        ("0003_000002.wav,Sad", r"'0003_000002.wav' is labelled 'Sad', but corpus ESD says 'happy'"),
        (
            "0003_000011.wav,Neutral",
            r"'0003_000011' is listed twice in fold 0 \(first in .*train/metadata_fold0.csv, line 2\)",
        ),
        (",Sad", r"empty 'file' or 'answer'"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, bad, msg):
    man = manifest()
    root = write_lists(tmp_path / "ESD", man)
    path = root / "train" / "metadata_fold0.csv"
    lines = path.read_text().splitlines()
    lines.insert(4, bad)  # becomes line 5
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=rf"train/metadata_fold0.csv, line 5: {msg}"):
        import_folds(root, man, 2, corpus="ESD")


def test_missing_list_and_bad_header(tmp_path):
    man = manifest()
    root = write_lists(tmp_path / "ESD", man, folds=1)
    with pytest.raises(InputError, match=r"train/metadata_fold1.csv: fold list not found .*k = 0..1"):
        import_folds(root, man, 2, corpus="ESD")
    (root / "test" / "metadata_fold0.csv").write_text("name,label\nx.wav,Sad\n")
    with pytest.raises(InputError, match=r"test/metadata_fold0.csv, line 1: expected the columns file,answer"):
        import_folds(root, man, 1, corpus="ESD")
