"""Small fixture trees in each real corpus layout, with real (tiny) audio, written by the
layout writers the demo and the rehearsal use (xlser.demo.layouts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xlser.demo.layouts import (
    Clip,
    EsdUtterance,
    IemocapTurn,
    PavoqueUtterance,
    TableUtterance,
    ZedUtterance,
    save,
    write_esd,
    write_iemocap,
    write_pavoque,
    write_pavoque_v02,
    write_table,
    write_zed,
)


def tone_clip(seconds: float = 0.5, sr: int = 16000, freq: float = 220.0, subtype: str = "PCM_16") -> Clip:
    t = np.arange(int(seconds * sr)) / sr
    return Clip(0.3 * np.sin(2 * np.pi * freq * t), sr, subtype)


def tone(path: Path, seconds: float = 0.5, sr: int = 16000, freq: float = 220.0, subtype: str = "PCM_16") -> Path:
    save(path, tone_clip(seconds, sr, freq, subtype))
    return path


#: the emotion word of an ESD transcript line: the Mandarin speakers' (0001-0010) in Chinese
ESD_CN_WORDS = {"Angry": "生气", "Happy": "快乐", "Neutral": "中立", "Sad": "伤心", "Surprise": "惊喜"}


def esd_tree(root: Path, speakers=("0001", "0002", "0011"), per_emotion: int = 2) -> Path:
    """`<root>/<spk>/<Emotion>/<spk>_<6 digits>.wav` + `<root>/<spk>/<spk>.txt` (id TAB text TAB
    emotion: the folder's name for the English speakers, its Chinese word for the Mandarin ones)."""
    emotions = ["Angry", "Happy", "Neutral", "Sad", "Surprise"]
    utterances = []
    for spk in speakers:
        text = "打开空调" if spk <= "0010" else "Open the door"
        for e, emo in enumerate(emotions):
            for i in range(per_emotion):
                n = e * per_emotion + i + 1
                label = ESD_CN_WORDS[emo] if spk <= "0010" else emo
                clip = tone_clip(seconds=0.25 + 0.01 * n)
                utterances.append(EsdUtterance(spk, f"{spk}_{n:06d}", emo, label, f"{text}{n}", clip))
    write_esd(root, utterances, encodings={"0002": "utf-16"})  # the real Mandarin files vary
    return root


def pavoque_tree(root: Path, per_style: int = 2) -> Path:
    """The first release: `<root>/Recordings/<Style>/<prompt>.flac`."""
    clip = tone_clip(seconds=0.3, sr=44100, subtype="PCM_24")
    styles = ["Neutral", "Poppy", "Obadiah", "Spike", "Poker"]
    write_pavoque(root, [PavoqueUtterance(s, f"prompt{i:04d}", clip) for s in styles for i in range(per_style)])
    return root


def pavoque_v02_tree(root: Path, per_style: int = 2) -> Path:
    """The v0.2 release after `./gradlew wav`: `pavoque-<style>.flac/.yaml` and the cut
    `build/wav/<prompt>-<style>.wav` (style prompts such as spike0074, shared ones such as m0001)."""
    prefix = {"angry": "spike", "happy": "poppy", "sad": "obadiah", "neutral": "a", "poker": "poker"}
    utterances = []
    for style, pre in prefix.items():
        clip = tone_clip(seconds=0.3, sr=44100, subtype="PCM_24")
        utterances += [PavoqueUtterance(style, f"{pre}{i + 1:04d}", clip) for i in range(per_style)]
        utterances.append(PavoqueUtterance(style, "m0001", tone_clip(seconds=0.2, sr=44100, subtype="PCM_24")))
    write_pavoque_v02(root, utterances)
    return root


#: the evaluators' lines under each fixture turn (tests count lines of the EmoEvaluation files)
EVALUATIONS = "C-E1:\tNeutral;\t()\nC-E2:\tNeutral;\t()\nA-E1:\tval 3; act 2; dom  2;\t()\n\n"


def iemocap_tree(root: Path) -> Path:
    """Session1 with one improvised and one scripted dialog; Session2 improvised."""
    dialogs = {
        "Ses01F_impro01": [("F000", "neu"), ("M000", "ang"), ("F001", "exc"), ("M001", "fru")],
        "Ses01F_script01_1": [("F000", "sad"), ("M000", "hap")],
        "Ses02M_impro03": [("F000", "sad"), ("M000", "hap"), ("F001", "xxx")],
    }
    turns = [
        IemocapTurn(
            f"{dialog}_{suffix}",
            label,
            tone_clip(seconds=0.3 + 0.1 * k),
            vad=(2.5, 3.0, 3.5),
            span=(k * 2.5, k * 2.5 + 2.0),
        )
        for dialog, utts in dialogs.items()
        for k, (suffix, label) in enumerate(utts)
    ]
    write_iemocap(root, turns, EVALUATIONS)
    return root


def zed_tree(root: Path) -> Path:
    events = [("happy", 0.2, 0.6), ("sad", 0.1, 0.5), ("angry", 0.3, 0.9)]
    write_zed(
        root,
        [
            ZedUtterance(f"spk{i}_{i:03d}", emo, start, end, f"text {i}", tone_clip(seconds=1.0))
            for i, (emo, start, end) in enumerate(events)
        ],
    )
    return root


def csv_tree(root: Path, labels=("negation", "expectation", "question", "negation")) -> Path:
    """`<root>/labels.csv` (path, emotion, speaker, text, utt_id) and `wav/tj<i>.wav`, speakers S0, S1."""
    utterances = [
        TableUtterance(f"tj_{i}", f"S{i % 2}", lab, f"句子{i}", tone_clip(seconds=0.4), path=f"wav/tj{i}.wav")
        for i, lab in enumerate(labels)
    ]
    write_table(root, utterances, "labels.csv")
    return root


STUDY_FOLD_FOLDERS = {"ESD": "CN_ESD", "PAVOQUE": "DE_PAVOQUE", "IEMOCAP": "EN_IEMOCAP"}


def header_only_fold_lists(root: Path, folds: int = 5) -> dict[str, str]:
    """The study's fold-list folders (`split_id/<sub>/{train,eval,test}/metadata_fold<k>.csv`) with
    header-only lists (planning reads no row): corpus name -> its folder, for `corpora.<name>.folds`."""
    out = {}
    for name, sub in STUDY_FOLD_FOLDERS.items():
        for part in ("train", "eval", "test"):
            for k in range(folds):
                f = root / "split_id" / sub / part / f"metadata_fold{k}.csv"
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text("file,answer\n")
        out[name] = str(root / "split_id" / sub)
    return out
