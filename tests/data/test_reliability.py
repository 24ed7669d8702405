"""Errors that reach the user intact: across process boundaries, for bad encodings, for
truncated audio; `label_map` nulls that make `strict` usable on the real corpora."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest
import soundfile as sf

from fixtures_corpora import csv_tree, esd_tree, iemocap_tree, tone
from xlser.data.corpora import scan_corpus
from xlser.data.resample import resample_corpus
from xlser.errors import InputError
from xlser.io import read_csv, write_csv
from xlser.models.loading import ModelLoadError

EMOTIONS = ["angry", "happy", "neutral", "sad"]


# ---- errors pickle (a worker process's error must survive the trip back)


@pytest.mark.parametrize("line", [None, 7])
def test_input_error_pickles_with_file_line_and_message(tmp_path, line):
    err = InputError(tmp_path / "a.wav", "empty audio", line)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is InputError and str(back) == str(err)
    assert (back.path, back.line, back.message) == (err.path, line, "empty audio")
    assert ("line 7" in str(back)) == (line == 7)


def test_every_library_error_type_pickles():
    import inspect

    from xlser import errors

    kinds = [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, Exception) and c.__module__ == errors.__name__
    ] + [ModelLoadError]
    assert InputError in kinds and len(kinds) >= 2
    for cls in kinds:
        err = cls("f.csv", "bad value", 3) if cls is InputError else cls("config peft: unknown key 'max_epoch'")
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls and str(back) == str(err) and back.__dict__ == err.__dict__


def _raw(tmp_path, paths):
    raw = pd.DataFrame(
        {
            "utt_id": [f"u{i:02d}" for i in range(len(paths))],
            "corpus": "C",
            "lang": "EN",
            "speaker": "s",
            "emotion": "sad",
            "path": [str(p) for p in paths],
            "duration_s": 0.2,
            "sample_rate": 16000,
        }
    )
    write_csv(raw, tmp_path / "raw.csv")
    return tmp_path / "raw.csv"


def test_corrupt_file_in_two_process_resample_is_named(tmp_path):
    paths = [tone(tmp_path / f"g{i}.wav", seconds=0.2) for i in range(11)]
    bad = tmp_path / "corrupt_one.wav"
    bad.write_bytes(b"RIFF....WAVEgarbage")
    paths.insert(9, bad)  # in the second chunk of 8: a worker, not the first task, fails
    raw = _raw(tmp_path, paths)
    with pytest.raises(InputError) as info:
        resample_corpus(raw, tmp_path / "out" / "manifest.csv", tmp_path / "out" / "wav", 16000, workers=2)
    assert info.value.path is not None and str(info.value.path).endswith("corrupt_one.wav")
    assert "corrupt_one.wav" in str(info.value)
    assert not (tmp_path / "out" / "manifest.csv").exists() and not (tmp_path / "out" / "wav").exists()


# ---- truncated WAV: libsndfile would read it at a fraction of its length without a word


def _truncate(path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: 44 + int((len(data) - 44) * keep)])


def test_truncated_wav_is_an_error_in_resample_and_scan(tmp_path):
    good = tone(tmp_path / "good.wav", seconds=0.4)
    cut = tone(tmp_path / "cut.wav", seconds=0.4)
    _truncate(cut, 0.5)
    assert sf.info(str(cut)).frames == int(0.4 * 16000) // 2  # what a silent reader would take
    raw = _raw(tmp_path, [good, cut])
    with pytest.raises(InputError, match=r"cut\.wav: truncated WAV.*declares 12800 bytes.*holds 6400"):
        resample_corpus(raw, tmp_path / "manifest.csv", tmp_path / "wav", 16000)
    root = csv_tree(tmp_path / "TJ")
    _truncate(root / "wav" / "tj2.wav", 0.9)
    cfg = {
        "format": "csv",
        "root": str(root),
        "lang": "TJ",
        "label_map": {"negation": "angry", "expectation": "happy", "question": "neutral"},
    }
    with pytest.raises(InputError, match=r"labels\.csv, line 4: .*tj2\.wav: truncated WAV"):
        scan_corpus("TJ", cfg, EMOTIONS)


def test_complete_and_streamed_wavs_pass(tmp_path):
    from xlser.data.wavheader import check_not_truncated, wav_data_sizes

    full = tone(tmp_path / "full.wav", seconds=0.3)
    assert wav_data_sizes(full) == (9600, 9600)
    check_not_truncated(full)
    flac = tone(tmp_path / "x.flac", seconds=0.3)
    assert wav_data_sizes(flac) is None
    streamed = tmp_path / "streamed.wav"  # a writer that could not seek back leaves the size at 0xFFFFFFFF
    data = bytearray(full.read_bytes())
    data[40:44] = (0xFFFFFFFF).to_bytes(4, "little")
    streamed.write_bytes(bytes(data))
    assert wav_data_sizes(streamed) is None
    odd = tmp_path / "odd.wav"  # one byte short of the last 16-bit frame: nothing audible lost
    odd.write_bytes(full.read_bytes()[:-1])
    check_not_truncated(odd)
    frame_short = tmp_path / "frame_short.wav"  # one whole frame short: truncated
    frame_short.write_bytes(full.read_bytes()[:-2])
    with pytest.raises(InputError, match="declares 9600 bytes.*holds 9598"):
        check_not_truncated(frame_short)


# ---- encodings: the file and the line, not a bare UnicodeDecodeError


def test_non_utf8_corpus_table_names_file_and_line(tmp_path):
    root = csv_tree(tmp_path / "TJ")
    table = root / "labels.csv"
    lines = table.read_text(encoding="utf-8").splitlines()
    raw = ("\n".join(lines[:3]) + "\n").encode("utf-8") + lines[3].encode("gb18030") + b"\n"
    table.write_bytes(raw)
    cfg = {"format": "csv", "root": str(root), "lang": "TJ", "label_map": {"negation": "angry"}}
    with pytest.raises(InputError, match=r"labels\.csv, line 4: not UTF-8 text"):
        scan_corpus("TJ", cfg, EMOTIONS)


def test_non_utf8_listening_csv_names_file_and_line(tmp_path):
    path = tmp_path / "lss.csv"
    path.write_bytes(b"listener,group\nalice,CN\n" + "bjørn,DE\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"lss\.csv, line 3: not UTF-8 text"):
        read_csv(path, ["listener", "group"])


def test_non_utf8_zed_json_names_file(tmp_path):
    from fixtures_corpora import zed_tree

    root = zed_tree(tmp_path / "ZED")
    (root / "ZED.json").write_bytes((root / "ZED.json").read_bytes().replace(b"text 1", "tëxt".encode("latin-1")))
    with pytest.raises(InputError, match=r"ZED\.json, line \d+: not UTF-8"):
        scan_corpus("ZED", {"format": "zed", "root": str(root), "lang": "EN", "role": "sed"}, EMOTIONS)


# ---- label_map: null drops a label on purpose, so `strict` works on the real corpora


def test_strict_esd_with_surprise_dropped_by_null(tmp_path):
    root = esd_tree(tmp_path / "ESD", speakers=("0001",))
    cfg = {"format": "esd", "root": str(root), "lang": "CN", "strict": True}
    with pytest.raises(InputError, match="Surprise"):
        scan_corpus("ESD", cfg, EMOTIONS)
    df = scan_corpus("ESD", {**cfg, "label_map": {"Surprise": None}}, EMOTIONS)
    assert sorted(df["emotion"].unique()) == EMOTIONS and len(df) == 4 * 2


def test_strict_iemocap_with_unused_labels_dropped(tmp_path):
    root = iemocap_tree(tmp_path / "IEMOCAP")
    cfg = {"format": "iemocap", "root": str(root), "lang": "EN", "strict": True, "improvised_only": True}
    with pytest.raises(InputError, match=r"Ses01F_impro01\.txt, line \d+: label 'exc'"):
        scan_corpus("IEMOCAP", cfg, EMOTIONS)
    df = scan_corpus("IEMOCAP", {**cfg, "label_map": {"exc": None, "fru": None, "xxx": None}}, EMOTIONS)
    # impro dialogs: neu, ang (Ses01) and sad, hap (Ses02); exc, fru, xxx dropped
    assert sorted(df["emotion"]) == sorted(["neutral", "angry", "sad", "happy"])
    # a label neither mapped nor dropped still stops a strict scan
    with pytest.raises(InputError, match="'fru'"):
        scan_corpus("IEMOCAP", {**cfg, "label_map": {"exc": None, "xxx": None}}, EMOTIONS)


def test_label_map_to_unknown_emotion_is_still_an_error(tmp_path):
    root = esd_tree(tmp_path / "ESD", speakers=("0001",))
    with pytest.raises(InputError, match="surprised"):
        scan_corpus(
            "ESD", {"format": "esd", "root": str(root), "lang": "CN", "label_map": {"Surprise": "surprised"}}, EMOTIONS
        )


def test_non_utf8_fold_list_names_file_and_line(tmp_path):
    from xlser.data.folds import import_folds

    man = pd.DataFrame({"utt_id": ["0003_000001", "0003_000002"], "emotion": ["angry", "sad"], "speaker": "0003"})
    for sub in ("train", "eval", "test"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "metadata_fold0.csv").write_text("file,answer\n0003_000001.wav,Angry\n")
    bad = tmp_path / "eval" / "metadata_fold0.csv"
    bad.write_bytes(b"file,answer\n0003_000002.wav,Sad\n0003_000001.wav,\xc4ngry\n")
    with pytest.raises(InputError, match=r"eval/metadata_fold0\.csv, line 3: not UTF-8 text"):
        import_folds(tmp_path, man, 1, corpus="ESD")
