"""Bad input, round 3 (issue 31), the data stage, on fixture trees in the real layouts: one
spelling of labels (configured `Angry` finds ESD's `Angry`, PAVOQUE's `Spike`, IEMOCAP's `ang`,
ZED's `angry`, a table's `ANGRY`); two sources of one fact agree or are named (ESD's folder and
transcript; `speakers`, dialog pools and `label_map` keys the corpus lacks); files that are not
what they seem (silent or DC-only recordings, path cells with stray whitespace or in another
Unicode normal form)."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from fixtures_corpora import csv_tree, esd_tree, iemocap_tree, pavoque_tree, pavoque_v02_tree, tone, tone_clip, zed_tree
from xlser.data.corpora import scan_corpus
from xlser.data.folds import import_folds
from xlser.demo.layouts import IemocapTurn, write_iemocap
from xlser.errors import InputError

EMO = ["angry", "happy", "neutral", "sad"]
CAPS = ["Angry", "Happy", "Neutral", "Sad"]

TREES = {
    "esd": (esd_tree, {"lang": "CN"}),
    "pavoque": (pavoque_tree, {"lang": "DE"}),
    "pavoque-v0.2": (pavoque_v02_tree, {"lang": "DE"}),
    "iemocap": (iemocap_tree, {"lang": "EN", "merge_excited": True}),
    "zed": (zed_tree, {"lang": "EN"}),
}


def _cfg(fmt: str, root, **kw) -> dict:
    return {"format": fmt.split("-")[0], "root": str(root), **kw}


# ---- 1: one spelling


@pytest.mark.parametrize("fmt", list(TREES))
def test_capitalised_emotions_find_every_utterance(tmp_path, fmt):
    """`emotions: [Angry, Happy, Neutral, Sad]` reads each corpus as `[angry, ...]` does, and the
    manifest carries the configured names (today's bug: no utterance at all)."""
    tree, extra = TREES[fmt]
    cfg = _cfg(fmt, tree(tmp_path / fmt), **extra)
    lower = scan_corpus("C", cfg, EMO)
    upper = scan_corpus("C", cfg, CAPS)
    assert len(upper) == len(lower) > 0
    assert list(upper["utt_id"]) == list(lower["utt_id"])
    assert list(upper["emotion"]) == [e.capitalize() for e in lower["emotion"]]


def test_a_table_labelled_in_the_configured_spelling_and_label_map_targets_in_another(tmp_path):
    root = csv_tree(tmp_path / "T", labels=("Angry", " HAPPY ", "Ｎｅｕｔｒａｌ", "sad"))  # full-width: a Chinese IME
    df = scan_corpus("T", _cfg("csv", root, lang="TJ"), CAPS)
    assert list(df["emotion"]) == CAPS
    tj = csv_tree(tmp_path / "TJ")
    lm = {"Negation": "ANGRY", "expectation": "happy ", "QUESTION": "Neutral"}
    df = scan_corpus("TJ", _cfg("csv", tj, lang="TJ", label_map=lm), EMO)
    assert df["emotion"].value_counts().to_dict() == {"angry": 2, "happy": 1, "neutral": 1}


def test_fold_list_answers_compare_in_one_spelling(tmp_path):
    man = pd.DataFrame({"utt_id": ["0003_000001", "0003_000002", "0003_000003"], "emotion": ["Angry", "Sad", "Sad"]})
    rows = {"train": [("0003_000001", " ANGRY ")], "eval": [("0003_000002", "sad")], "test": [("0003_000003", "Sad")]}
    for sub, rs in rows.items():
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "metadata_fold0.csv").write_text("file,answer\n" + "".join(f"{u}.wav,{a}\n" for u, a in rs))
    assert len(import_folds(tmp_path, man, 1, corpus="ESD")) == 3
    (tmp_path / "test" / "metadata_fold0.csv").write_text("file,answer\n0003_000003.wav,Happy\n")
    with pytest.raises(InputError, match=r"metadata_fold0\.csv, line 2: '0003_000003\.wav' is labelled 'Happy'"):
        import_folds(tmp_path, man, 1, corpus="ESD")


# ---- 2: two sources of one fact


def _edit_transcript(root, speaker: str, utt: str, label: str, encoding: str = "utf-8") -> int:
    txt = root / speaker / f"{speaker}.txt"
    lines = txt.read_text(encoding=encoding).splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(utt))
    uid, text, _ = lines[i].split("\t")
    lines[i] = f"{uid}\t{text}\t{label}"
    txt.write_text("\n".join(lines) + "\n", encoding=encoding)
    return i + 1


@pytest.mark.parametrize(("speaker", "label", "said"), [("0011", "Happy", "happy"), ("0001", "快乐", "happy")])
def test_esd_folder_and_transcript_disagree(tmp_path, caplog, speaker, label, said):
    """ESD gives the emotion twice: 0011_000001 sits in Angry/ but its transcript line says
    otherwise. Named with both labels: a warning (the folder's label kept), an error with strict."""
    root = esd_tree(tmp_path / "ESD", speakers=("0001", "0011"))
    utt = f"{speaker}_000001"
    line = _edit_transcript(root, speaker, utt, label)
    cfg = _cfg("esd", root, lang="CN")
    caplog.set_level("WARNING")
    df = scan_corpus("ESD", cfg, EMO).set_index("utt_id")
    assert df.at[utt, "emotion"] == "angry"
    assert "1 utterance(s) whose folder and transcript labels disagree" in caplog.text
    assert f"utterance {utt} is in folder Angry but its transcript line says '{label}' ({said})" in caplog.text
    assert f"{speaker}.txt, line {line})" in caplog.text
    with pytest.raises(
        InputError,
        match=rf"{speaker}\.txt, line {line}: utterance {utt} is in folder Angry but its transcript line says "
        rf"'{label}' \({said}\): ESD gives its emotion twice and they disagree; correct .* \[corpus ESD",
    ):
        scan_corpus("ESD", {**cfg, "strict": True, "label_map": {"Surprise": None}}, EMO)


def test_esd_transcripts_that_agree_warn_of_nothing(tmp_path, caplog):
    root = esd_tree(tmp_path / "ESD")  # Mandarin words and English names, one UTF-16 file
    caplog.set_level("INFO")
    scan_corpus("ESD", _cfg("esd", root, lang="CN", strict=True, label_map={"Surprise": None}), EMO)
    assert "disagree" not in caplog.text and "none of ESD's classes" not in caplog.text


@pytest.mark.parametrize(
    ("fmt", "tree", "listed", "kept", "message"),
    [
        ("esd", esd_tree, ["1", "0021"], None, r"config corpora\.C\.speakers\[1\]: '0021' is not a speaker folder"),
        ("esd", esd_tree, [" 0011 ", "2"], {"0011", "0002"}, None),
        (
            "iemocap",
            iemocap_tree,
            ["Ses01F", "Ses06M"],
            None,
            r"speakers\[1\]: 'Ses06M' is not a speaker of the corpus",
        ),
        ("iemocap", iemocap_tree, ["Ses02M"], {"Ses02M"}, None),
        ("csv", csv_tree, ["S1"], {"S1"}, None),
        (
            "csv",
            csv_tree,
            ["S0", "S9"],
            None,
            r"speakers\[1\]: 'S9' is not a speaker of the corpus \(speakers: S0, S1\)",
        ),
        ("zed", zed_tree, ["spk0", "spk7"], None, r"speakers\[1\]: 'spk7' is not a speaker"),
        ("pavoque", pavoque_tree, ["pavoque"], {"pavoque"}, None),
        (
            "pavoque",
            pavoque_tree,
            ["Stefan"],
            None,
            r"speakers\[0\]: 'Stefan' is not a speaker .*\(speakers: pavoque\)",
        ),
    ],
)
def test_listed_speakers_are_read_and_one_the_corpus_lacks_is_an_error(tmp_path, fmt, tree, listed, kept, message):
    extra = {"label_map": {"negation": "angry", "expectation": "happy", "question": "neutral"}} if fmt == "csv" else {}
    cfg = _cfg(fmt, tree(tmp_path / fmt), lang="X", speakers=listed, **extra)
    if message:
        with pytest.raises(InputError, match=message + r".*fix the name or remove it from corpora\.C\.speakers"):
            scan_corpus("C", cfg, EMO)
    else:
        assert set(scan_corpus("C", cfg, EMO)["speaker"]) == kept


@pytest.mark.parametrize(
    ("fmt", "tree", "label_map", "key"),
    [
        ("pavoque", pavoque_tree, {"Spikey": "angry"}, "Spikey"),  # a style name misspelt
        ("pavoque", pavoque_v02_tree, {"Poker": "neutral", "Obadaih": "sad"}, "Obadaih"),
        ("iemocap", iemocap_tree, {"exc": "happy", "frus": "angry"}, "frus"),
        ("csv", csv_tree, {"negation": "angry", "expectations": "happy"}, "expectations"),
    ],
)
def test_a_label_map_key_the_corpus_lacks_is_an_error_naming_it(tmp_path, fmt, tree, label_map, key):
    cfg = _cfg(fmt, tree(tmp_path / fmt), lang="X", label_map=label_map)
    with pytest.raises(InputError, match=rf"config corpora\.C\.label_map\.{key}: the corpus has no label '{key}'"):
        scan_corpus("C", cfg, EMO)
    # entries that drop a label or restate a mapping rename nothing: never an error
    kept = {k: v for k, v in label_map.items() if k != key}
    scan_corpus("C", {**cfg, "label_map": {**kept, key: None, "sad": "sad"}}, EMO)


def test_an_iemocap_dialog_pool_the_corpus_lacks_is_an_error_naming_the_key(tmp_path):
    root = tmp_path / "IEMOCAP"
    write_iemocap(root, [IemocapTurn(f"Ses01F_impro01_F00{i}", lab, tone_clip(0.4)) for i, lab in enumerate(EMO_I)])
    cfg = _cfg("iemocap", root, lang="EN")
    assert len(scan_corpus("IEMOCAP", {**cfg, "dialogs": "improvised"}, EMO)) == 4
    with pytest.raises(
        InputError,
        match=r"config corpora\.IEMOCAP\.dialogs: selects the scripted dialogs, but the corpus has no scripted "
        r"dialog .*\(dialogs found: 1 improvised\)",
    ):
        scan_corpus("IEMOCAP", {**cfg, "dialogs": "scripted", "listening_dialogs": "improvised"}, EMO)
    with pytest.raises(InputError, match=r"config corpora\.IEMOCAP\.listening_dialogs: selects the scripted"):
        scan_corpus("IEMOCAP", {**cfg, "dialogs": "all", "listening_dialogs": "scripted"}, EMO)


EMO_I = ["ang", "hap", "neu", "sad"]


# ---- 3: files that are not what they seem


def test_silent_and_dc_only_recordings_are_named_and_never_fed_as_speech(tmp_path, caplog):
    root = esd_tree(tmp_path / "ESD", speakers=("0011",))
    zero = root / "0011" / "Happy" / "0011_000003.wav"
    dc = root / "0011" / "Sad" / "0011_000007.wav"
    sf.write(str(zero), np.zeros(8000, np.float32), 16000, subtype="PCM_16")
    sf.write(str(dc), np.full(70000, 0.25, np.float32), 16000, subtype="PCM_16")  # longer than one read block
    cfg = _cfg("esd", root, lang="EN")
    caplog.set_level("WARNING")
    df = scan_corpus("ESD", cfg, EMO)
    assert not {"0011_000003", "0011_000007"} & set(df["utt_id"]) and len(df) == 8 - 2
    assert "2 recording(s) hold no signal" in caplog.text
    assert f"{zero} (all zeros)" in caplog.text and f"{dc} (constant 0.25)" in caplog.text
    with pytest.raises(InputError, match=r"0011_000003\.wav: 2 recording\(s\) hold no signal.*\(strict: true\)"):
        scan_corpus("ESD", {**cfg, "strict": True, "label_map": {"Surprise": None}}, EMO)


def test_a_recording_silent_at_first_is_speech(tmp_path):
    root = esd_tree(tmp_path / "ESD", speakers=("0011",))
    f = root / "0011" / "Happy" / "0011_000003.wav"
    x = np.zeros(100000, np.float32)
    x[90000:] = 0.3 * np.sin(np.arange(10000) / 5)
    sf.write(str(f), x, 16000, subtype="PCM_16")
    assert "0011_000003" in set(scan_corpus("ESD", _cfg("esd", root, lang="EN"), EMO)["utt_id"])


def _nfd_name(root, stem: str = "café"):
    """A WAV whose name on disk is decomposed (NFD, as macOS writes it); returns the NFC spelling."""
    nfc, nfd = unicodedata.normalize("NFC", stem), unicodedata.normalize("NFD", stem)
    assert nfc != nfd
    tone(root / "wav" / f"{nfd}.wav", seconds=0.4)
    return f"wav/{nfc}.wav"


def test_csv_path_cells_with_whitespace_or_another_unicode_form_are_found(tmp_path, caplog):
    root = csv_tree(tmp_path / "T", labels=("angry", "happy", "neutral", "sad"))
    table = root / "labels.csv"
    rows = table.read_text(encoding="utf-8").splitlines()
    rows[1] = rows[1].replace("wav/tj0.wav", "  wav/tj0.wav\t")  # spaces and a tab around the cell
    rows.append(f"{_nfd_name(root)},sad,S1,t,")  # the table in NFC, the file in NFD
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    caplog.set_level("WARNING")
    df = scan_corpus("T", _cfg("csv", root, lang="TJ"), EMO).set_index("utt_id")
    assert df.loc["tj_0", "path"].endswith("wav/tj0.wav")
    assert "café" in df.index  # the id in the table's (NFC) spelling
    assert (
        unicodedata.normalize("NFC", df.loc["café", "path"]).endswith("wav/café.wav")
        and "found under another spelling" in caplog.text
        and "line 6: 'wav/café.wav' is" in caplog.text
        and "(Unicode normal form (NFC/NFD))" in caplog.text
    )


def test_zed_wav_in_another_unicode_form_is_found(tmp_path):
    root = zed_tree(tmp_path / "ZED")
    data = json.loads((root / "ZED.json").read_text(encoding="utf-8"))
    utt = sorted(data)[0]
    nfc = unicodedata.normalize("NFC", f"{utt}_é")
    (root / "audio" / f"{utt}.wav").rename(root / "audio" / f"{unicodedata.normalize('NFD', nfc)}.wav")
    data[utt]["wav"] = f" datafolder/audio/{nfc}.wav "
    (root / "ZED.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    df = scan_corpus("ZED", _cfg("zed", root, lang="EN"), EMO).set_index("utt_id")
    assert df.loc[utt, "seg_start"] > 0


def test_the_fingerprint_tracks_the_file_a_cell_names_in_another_unicode_form(tmp_path):
    """The scan reads the NFD file an NFC cell names; editing it must re-plan the scan too."""
    from xlser.data.corpora.files import corpus_files, fingerprint

    root = csv_tree(tmp_path / "T", labels=("angry", "happy", "neutral", "sad"))
    cell = _nfd_name(root)
    with open(root / "labels.csv", "a", encoding="utf-8") as fh:
        fh.write(f" {cell} ,sad,S1,t,\n")
    files = corpus_files("csv", root, {"table": "labels.csv"})
    nfd = root / "wav" / unicodedata.normalize("NFD", "café.wav")
    assert nfd in files and all(f.exists() for f in files)
    before = fingerprint("csv", root, {"table": "labels.csv"})
    tone(nfd, seconds=0.6)
    assert fingerprint("csv", root, {"table": "labels.csv"}) != before
