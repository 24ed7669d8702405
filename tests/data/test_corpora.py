"""Corpus adapters on fixture trees in the real layouts: every manifest field, and bad input."""

from __future__ import annotations

import json
import os

import pytest

from fixtures_corpora import csv_tree, esd_tree, iemocap_tree, pavoque_tree, pavoque_v02_tree, tone, zed_tree
from xlser.data.corpora import scan_corpus
from xlser.errors import InputError

EMO = ["angry", "happy", "neutral", "sad"]
COLS = ["utt_id", "corpus", "lang", "speaker", "emotion", "path", "duration_s", "sample_rate"]


def test_esd_every_field(tmp_path, caplog):
    root = esd_tree(tmp_path / "ESD")
    caplog.set_level("INFO")
    df = scan_corpus("ESD", {"format": "esd", "root": str(root), "lang": "CN", "speakers": ["0001", "0002"]}, EMO)
    assert list(df.columns[:8]) == COLS
    assert len(df) == 2 * 4 * 2  # 2 Mandarin speakers x 4 emotions x 2; Surprise and 0011 left out
    assert set(df["speaker"]) == {"0001", "0002"} and set(df["corpus"]) == {"ESD"} and set(df["lang"]) == {"CN"}
    r = df.set_index("utt_id").loc["0002_000003"]
    assert r["emotion"] == "happy" and r["speaker"] == "0002"
    assert r["path"] == str((root / "0002" / "Happy" / "0002_000003.wav").resolve())
    assert r["sample_rate"] == 16000 and r["duration_s"] == pytest.approx(0.25 + 0.03, abs=1e-4)
    assert r["text"] == "打开空调3"  # read from a UTF-16 transcript
    assert df["emotion"].value_counts().to_dict() == dict.fromkeys(EMO, 4)
    assert "dropped 4 utterance(s) with unmapped labels (Surprise: 4)" in caplog.text


def test_pavoque_every_field(tmp_path):
    root = pavoque_tree(tmp_path / "pavoque")
    df = scan_corpus("PAVOQUE", {"format": "pavoque", "root": str(root), "lang": "DE"}, EMO)
    assert len(df) == 8 and not df["utt_id"].str.endswith("-poker").any()
    r = df.set_index("utt_id").loc["prompt0001-angry"]  # <prompt>-<style>, the fold lists' names
    assert (r["emotion"], r["speaker"], r["sample_rate"], r["lang"]) == ("angry", "pavoque", 44100, "DE")
    assert r["duration_s"] == pytest.approx(0.3, abs=1e-4)
    assert r["path"].endswith("Recordings/Spike/prompt0001.flac")
    assert dict(zip(df["utt_id"], df["emotion"]))["prompt0000-sad"] == "sad"
    assert dict(zip(df["utt_id"], df["emotion"]))["prompt0000-happy"] == "happy"


def test_pavoque_v02_release_cut_by_gradle(tmp_path):
    root = pavoque_v02_tree(tmp_path / "pavoque")
    df = scan_corpus("PAVOQUE", {"format": "pavoque", "root": str(root), "lang": "DE"}, EMO).set_index("utt_id")
    assert len(df) == 4 * 3  # 2 style prompts + m0001 per style; poker dropped
    assert df.loc["spike0002-angry", "emotion"] == "angry" and df.loc["m0001-happy", "emotion"] == "happy"
    assert df.loc["obadiah0001-sad", "path"].endswith("build/wav/obadiah0001-sad.wav")
    assert df.loc["a0001-neutral", "emotion"] == "neutral" and df.loc["a0001-neutral", "sample_rate"] == 44100
    for f in (root / "build" / "wav").iterdir():  # before `gradlew wav`: only the long per-style FLACs
        f.unlink()
    (root / "build" / "wav").rmdir()
    tone(root / "pavoque-angry.flac", seconds=0.3, sr=44100)
    with pytest.raises(InputError, match=r"run `./gradlew wav` in the corpus folder"):
        scan_corpus("PAVOQUE", {"format": "pavoque", "root": str(root), "lang": "DE"}, EMO)
    tone(root / "spike0001_angry.wav", seconds=0.3)
    with pytest.raises(InputError, match=r"spike0001_angry.wav: PAVOQUE file name expected as <prompt>-<style>.wav"):
        scan_corpus("PAVOQUE", {"format": "pavoque", "root": str(root), "lang": "DE"}, EMO)


def test_iemocap_every_field_and_dialog_pools(tmp_path):
    root = iemocap_tree(tmp_path / "IEMOCAP")
    cfg = {"format": "iemocap", "root": str(root), "lang": "EN"}
    # the schema's defaults: folds from all dialogs, stimuli from improvised ones -> the scan keeps both
    df = scan_corpus("IEMOCAP", {**cfg, "dialogs": "all", "listening_dialogs": "improvised"}, EMO).set_index("utt_id")
    assert sorted(df.index) == [
        "Ses01F_impro01_F000",
        "Ses01F_impro01_M000",
        "Ses01F_script01_1_F000",
        "Ses01F_script01_1_M000",
        "Ses02M_impro03_F000",
        "Ses02M_impro03_M000",
    ]
    assert df["dialog"].to_dict() == {u: "scripted" if "script" in u else "improvised" for u in df.index}
    r = df.loc["Ses01F_impro01_M000"]
    assert (r["emotion"], r["speaker"], r["session"], r["sample_rate"]) == ("angry", "Ses01M", "Ses01", 16000)
    assert r["duration_s"] == pytest.approx(0.4, abs=1e-4)
    assert r["path"].endswith("Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav")
    assert df.loc["Ses02M_impro03_F000", "speaker"] == "Ses02F"
    improvised = {u for u in df.index if "impro" in u}
    for pools in ({"dialogs": "improvised", "listening_dialogs": "improvised"}, {"improvised_only": True}):
        assert set(scan_corpus("IEMOCAP", {**cfg, **pools}, EMO)["utt_id"]) == improvised  # no pool needs scripted
    scripted = scan_corpus("IEMOCAP", {**cfg, "dialogs": "scripted", "listening_dialogs": "scripted"}, EMO)
    assert set(scripted["dialog"]) == {"scripted"} and len(scripted) == 2


def test_iemocap_merge_excited(tmp_path):
    root = iemocap_tree(tmp_path / "IEMOCAP")
    merged = scan_corpus(
        "IEMOCAP",
        {"format": "iemocap", "root": str(root), "lang": "EN", "merge_excited": True, "improvised_only": False},
        EMO,
    )
    m = merged.set_index("utt_id")["emotion"]
    assert m["Ses01F_impro01_F001"] == "happy" and m["Ses01F_script01_1_F000"] == "sad"
    assert len(merged) == 7  # + exc, + 2 scripted; fru and xxx dropped


def test_macos_resource_forks_are_skipped(tmp_path):
    root = esd_tree(tmp_path / "ESD", speakers=("0001",), per_emotion=1)
    (root / "0001" / "Angry" / "._0001_000001.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    df = scan_corpus("ESD", {"format": "esd", "root": str(root), "lang": "CN"}, EMO)
    assert len(df) == 4


def test_zed_every_field(tmp_path):
    root = zed_tree(tmp_path / "ZED")
    df = scan_corpus("ZED", {"format": "zed", "root": str(root), "lang": "EN", "role": "sed"}, EMO).set_index("utt_id")
    assert len(df) == 3
    r = df.loc["spk2_002"]
    assert (r["emotion"], r["seg_start"], r["seg_end"], r["text"]) == ("angry", 0.3, 0.9, "text 2")
    assert r["path"] == str((root / "audio" / "spk2_002.wav").resolve()) and r["duration_s"] == pytest.approx(1.0)


def test_csv_table_with_label_map(tmp_path):
    root = csv_tree(tmp_path / "TJD")
    cfg = {
        "format": "csv",
        "root": str(root),
        "table": "labels.csv",
        "lang": "TJ",
        "label_map": {"negation": "angry", "expectation": "happy", "question": "neutral"},
    }
    df = scan_corpus("TJD", cfg, EMO).set_index("utt_id")
    assert df["emotion"].to_dict() == {"tj_0": "angry", "tj_1": "happy", "tj_2": "neutral", "tj_3": "angry"}
    assert df.loc["tj_1", "speaker"] == "S1" and df.loc["tj_1", "text"] == "句子1"
    assert df.loc["tj_2", "path"] == str((root / "wav" / "tj2.wav").resolve())


# ---- bad input


def test_missing_root_names_path_and_key(tmp_path):
    with pytest.raises(InputError, match=r"nowhere: corpus root of 'ESD' does not exist \(config: corpora.ESD.root\)"):
        scan_corpus("ESD", {"format": "esd", "root": str(tmp_path / "nowhere"), "lang": "CN"}, EMO)


def test_unreadable_and_empty_audio(tmp_path):
    root = csv_tree(tmp_path / "T")
    (root / "wav" / "tj1.wav").write_bytes(b"not audio at all")
    with pytest.raises(InputError, match=r"labels.csv, line 3: .*tj1.wav: unreadable audio"):
        scan_corpus(
            "T",
            {
                "format": "csv",
                "root": str(root),
                "lang": "TJ",
                "label_map": {"negation": "angry", "expectation": "happy", "question": "neutral"},
            },
            EMO,
        )
    root2 = pavoque_tree(tmp_path / "P", per_style=1)
    tone(root2 / "Recordings" / "Spike" / "empty.wav", seconds=0.0, sr=44100)
    with pytest.raises(InputError, match=r"empty.wav: empty audio"):
        scan_corpus("P", {"format": "pavoque", "root": str(root2), "lang": "DE"}, EMO)


def test_unknown_label_strict_names_file_and_line(tmp_path):
    root = iemocap_tree(tmp_path / "I")
    with pytest.raises(InputError, match=r"Ses01F_impro01.txt, line 13: label 'exc' is not mapped"):
        scan_corpus("I", {"format": "iemocap", "root": str(root), "lang": "EN", "strict": True}, EMO)


def test_duplicate_utt_ids(tmp_path):
    root = csv_tree(tmp_path / "T")
    text = (root / "labels.csv").read_text().replace("tj_3", "tj_0")
    (root / "labels.csv").write_text(text)
    with pytest.raises(InputError, match=r"duplicate utt_id 'tj_0'.*also from .*tj0.wav"):
        scan_corpus(
            "T",
            {
                "format": "csv",
                "root": str(root),
                "lang": "TJ",
                "label_map": {"negation": "angry", "expectation": "happy", "question": "neutral"},
            },
            EMO,
        )


def test_zed_segment_outside_audio(tmp_path):
    root = zed_tree(tmp_path / "Z")
    data = json.loads((root / "ZED.json").read_text())
    data["spk0_000"]["emotion"][0]["end"] = 3.0
    (root / "ZED.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"ZED.json: entry 'spk0_000': segment \[0.2, 3.0\] is not inside"):
        scan_corpus("Z", {"format": "zed", "root": str(root), "lang": "EN"}, EMO)


def test_config_of_wrong_type_is_a_schema_error():
    import yaml

    from xlser.config import resolve
    from xlser.errors import ConfigError

    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    cfg = yaml.safe_load(open(os.path.join(root, "config", "config.yaml")))
    cfg["splits"]["folds"] = "five"
    with pytest.raises(ConfigError, match=r"config splits\.folds: 'five' is not of type 'integer'"):
        resolve(cfg)
