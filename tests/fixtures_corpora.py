"""Small fixture trees in each real corpus layout, with real (tiny) audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf


def tone(path: Path, seconds: float = 0.5, sr: int = 16000, freq: float = 220.0, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * freq * t), sr, subtype=subtype)
    return path


def esd_tree(root: Path, speakers=("0001", "0002", "0011"), per_emotion: int = 2) -> Path:
    """`<root>/<spk>/<Emotion>/<spk>_<6 digits>.wav` + `<root>/<spk>/<spk>.txt` (id TAB text TAB emotion)."""
    emotions = ["Angry", "Happy", "Neutral", "Sad", "Surprise"]
    for spk in speakers:
        lines = []
        n = 1
        for emo in emotions:
            for _ in range(per_emotion):
                uid = f"{spk}_{n:06d}"
                tone(root / spk / emo / f"{uid}.wav", seconds=0.25 + 0.01 * n)
                text = "打开空调" if spk <= "0010" else "Open the door"
                lines.append(f"{uid}\t{text}{n}\t{'中立' if emo == 'Neutral' else emo}")
                n += 1
        encoding = "utf-16" if spk == "0002" else "utf-8"  # the real Mandarin files vary
        (root / spk / f"{spk}.txt").write_text("\n".join(lines) + "\n", encoding=encoding)
    return root


def pavoque_tree(root: Path, per_style: int = 2) -> Path:
    """The first release: `<root>/Recordings/<Style>/<prompt>.flac`."""
    for style in ["Neutral", "Poppy", "Obadiah", "Spike", "Poker"]:
        for i in range(per_style):
            tone(root / "Recordings" / style / f"prompt{i:04d}.flac", seconds=0.3, sr=44100, subtype="PCM_24")
    return root


def pavoque_v02_tree(root: Path, per_style: int = 2) -> Path:
    """The v0.2 release after `./gradlew wav`: `pavoque-<style>.flac/.yaml` and the cut
    `build/wav/<prompt>-<style>.wav` (style prompts such as spike0074, shared ones such as m0001)."""
    prefix = {"angry": "spike", "happy": "poppy", "sad": "obadiah", "neutral": "a", "poker": "poker"}
    for style, pre in prefix.items():
        (root / f"pavoque-{style}.yaml").parent.mkdir(parents=True, exist_ok=True)
        (root / f"pavoque-{style}.yaml").write_text(f"- prompt: {pre}0001\n  style: {style}\n")
        for i in range(per_style):
            tone(root / "build" / "wav" / f"{pre}{i + 1:04d}-{style}.wav", seconds=0.3, sr=44100, subtype="PCM_24")
        tone(root / "build" / "wav" / f"m0001-{style}.wav", seconds=0.2, sr=44100, subtype="PCM_24")
    return root


EMO_EVAL_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def iemocap_tree(root: Path) -> Path:
    """Session1 with one improvised and one scripted dialog; Session2 improvised."""
    spec = {
        1: {
            "Ses01F_impro01": [("F000", "neu"), ("M000", "ang"), ("F001", "exc"), ("M001", "fru")],
            "Ses01F_script01_1": [("F000", "sad"), ("M000", "hap")],
        },
        2: {"Ses02M_impro03": [("F000", "sad"), ("M000", "hap"), ("F001", "xxx")]},
    }
    for n, dialogs in spec.items():
        sess = root / f"Session{n}"
        for dialog, utts in dialogs.items():
            lines = [EMO_EVAL_HEADER]
            for k, (suffix, label) in enumerate(utts):
                utt = f"{dialog}_{suffix}"
                tone(sess / "sentences" / "wav" / dialog / f"{utt}.wav", seconds=0.3 + 0.1 * k)
                lines.append(f"[{k * 2.5:.4f} - {k * 2.5 + 2.0:.4f}]\t{utt}\t{label}\t[2.5000, 3.0000, 3.5000]\n")
                lines.append("C-E1:\tNeutral;\t()\nC-E2:\tNeutral;\t()\nA-E1:\tval 3; act 2; dom  2;\t()\n\n")
            ev = sess / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
            ev.parent.mkdir(parents=True, exist_ok=True)
            ev.write_text("".join(lines))
    return root


def zed_tree(root: Path) -> Path:
    data = {}
    for i, (emo, start, end) in enumerate([("happy", 0.2, 0.6), ("sad", 0.1, 0.5), ("angry", 0.3, 0.9)]):
        uid = f"spk{i}_{i:03d}"
        tone(root / "audio" / f"{uid}.wav", seconds=1.0)
        data[uid] = {
            "wav": f"datafolder/audio/{uid}.wav",
            "duration": 1.0,
            "emotion": [{"emo": emo, "start": start, "end": end}],
            "transcription": f"text {i}",
        }
    (root / "ZED.json").write_text(json.dumps(data, indent=2))
    return root


def csv_tree(root: Path) -> Path:
    rows = ["path,emotion,speaker,text,utt_id"]
    for i, lab in enumerate(["negation", "expectation", "question", "negation"]):
        tone(root / "wav" / f"tj{i}.wav", seconds=0.4)
        rows.append(f"wav/tj{i}.wav,{lab},S{i % 2},句子{i},tj_{i}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root
