"""Writers of the real corpora's on-disk layouts, the one place that knows them on the writing
side (xlser.data.corpora reads them): the demo, the rehearsal and the test fixtures all write
their corpora here, so what the adapters are tested on is what the real releases look like.

Each writer takes the utterances with their audio and labels, as records of that corpus's own
fields (ESD's emotion folder, IEMOCAP's turn id and label, PAVOQUE's style and prompt ...),
and decides every path, file name and annotation file. The records may come from a generator:
a writer saves each utterance's audio as it arrives and keeps only the annotation lines, so a
study-size corpus never sits in memory, and audio is made in the order the records come
(what keeps a seeded synthesiser's output a function of its seed).

Audio is either a `Clip` (samples, encoded here) or `bytes`: a file already encoded in the
target's format, for fixtures that write thousands of identical files from one encode.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf


@dataclass(frozen=True)
class Clip:
    """Samples in [-1, 1] at `sample_rate`, written as `subtype` (16-bit PCM unless the corpus
    is distributed otherwise, e.g. PAVOQUE's 24-bit)."""

    samples: np.ndarray
    sample_rate: int
    subtype: str = "PCM_16"


Audio = Clip | bytes


def save(path: Path, audio: Audio) -> None:
    """Write one audio file (its folders too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(audio, bytes):
        path.write_bytes(audio)
    else:
        sf.write(str(path), audio.samples, audio.sample_rate, subtype=audio.subtype)


def seconds(audio: Audio) -> float:
    """The audio's duration (what the annotation files that carry times are written with)."""
    if isinstance(audio, bytes):
        info = sf.info(io.BytesIO(audio))
        return info.frames / info.samplerate
    return len(audio.samples) / audio.sample_rate


# ---- ESD


@dataclass(frozen=True)
class EsdUtterance:
    """One ESD utterance: `<speaker>/<emotion>/[<subset>/]<utt_id>.wav`, and a line
    `utt_id<TAB>text<TAB>label` in `<speaker>/<speaker>.txt`."""

    speaker: str  # 0001-0010 Mandarin, 0011-0020 English
    utt_id: str  # <speaker>_<6 digits>, numbered per speaker
    emotion: str  # the folder: Neutral, Angry, Happy, Sad, Surprise
    label: str  # as the transcript writes it (the Mandarin speakers': 中立, 生气 ...)
    text: str
    audio: Audio
    subset: str = ""  # the release's evaluation | test | train sub-folder; "" none


def write_esd(root: Path, utterances: Iterable[EsdUtterance], encodings: Mapping[str, str] | None = None) -> int:
    """ESD's layout; each speaker's transcript in `encodings[speaker]` (the release's Mandarin
    files are not all UTF-8), UTF-8 by default. Returns the number of utterances."""
    lines: dict[str, list[str]] = {}
    n = 0
    for u in utterances:
        folder = root / u.speaker / u.emotion
        save((folder / u.subset if u.subset else folder) / f"{u.utt_id}.wav", u.audio)
        lines.setdefault(u.speaker, []).append(f"{u.utt_id}\t{u.text}\t{u.label}")
        n += 1
    for speaker, rows in lines.items():
        encoding = (encodings or {}).get(speaker, "utf-8")
        (root / speaker / f"{speaker}.txt").write_text("\n".join(rows) + "\n", encoding=encoding)
    return n


# ---- PAVOQUE


@dataclass(frozen=True)
class PavoqueUtterance:
    """One PAVOQUE prompt read in one style. The first release names styles by character
    (Neutral, Poppy, Obadiah, Spike, Poker), v0.2 in English (neutral, happy, sad, angry, poker)."""

    style: str
    prompt: str  # prompt_0001; in v0.2 spike0074 (a style's own prompt) or m0001 (a shared one)
    audio: Audio


def write_pavoque(root: Path, utterances: Iterable[PavoqueUtterance]) -> int:
    """The first release's per-style tarballs unpacked: `<root>/Recordings/<Style>/<prompt>.flac`."""
    n = 0
    for u in utterances:
        save(root / "Recordings" / u.style / f"{u.prompt}.flac", u.audio)
        n += 1
    return n


def write_pavoque_v02(root: Path, utterances: Iterable[PavoqueUtterance]) -> int:
    """The v0.2 release after `./gradlew wav`: `<root>/pavoque-<style>.yaml` (its prompts) and the
    cut utterances `<root>/build/wav/<prompt>-<style>.wav`."""
    prompts: dict[str, list[str]] = {}
    n = 0
    for u in utterances:
        save(root / "build" / "wav" / f"{u.prompt}-{u.style}.wav", u.audio)
        prompts.setdefault(u.style, []).append(u.prompt)
        n += 1
    for style, names in prompts.items():
        (root / f"pavoque-{style}.yaml").write_text("".join(f"- prompt: {p}\n  style: {style}\n" for p in names))
    return n


# ---- IEMOCAP

EMO_EVALUATION_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
#: the evaluators' lines under each turn (the adapter ignores them): one categorical, one dimensional
ONE_EVALUATOR = "C-E1:\tNeutral;\t()\nA-E1:\tval 3; act 2; dom  2;\t()\n\n"
PAUSE_S = 0.5  # between turns whose times are not given


@dataclass(frozen=True)
class IemocapTurn:
    """One IEMOCAP turn: `Session<n>/sentences/wav/<dialog>/<utt_id>.wav` and its line
    `[start - end]<TAB>utt_id<TAB>label<TAB>[V, A, D]` in `Session<n>/dialog/EmoEvaluation/<dialog>.txt`."""

    utt_id: str  # <dialog>_<F|M><3 digits>, e.g. Ses01F_impro01_M003 (dialog Ses01F_impro01, session 1)
    label: str  # neu, hap, ang, sad, exc, fru, xxx ...
    audio: Audio
    vad: tuple[float, float, float] = (2.5, 2.5, 2.5)
    span: tuple[float, float] | None = None  # start, end in the dialog; None: after the previous turn

    @property
    def dialog(self) -> str:
        return self.utt_id.rsplit("_", 1)[0]

    @property
    def session(self) -> int:
        return int(self.utt_id[3:5])


@dataclass
class _Dialog:
    """An EmoEvaluation file being written: its lines and the end of its last turn plus a pause."""

    session: int
    lines: list[str] = field(default_factory=lambda: [EMO_EVALUATION_HEADER])
    t: float = 0.0


def write_iemocap(root: Path, turns: Iterable[IemocapTurn], evaluations: str = ONE_EVALUATOR) -> int:
    """IEMOCAP's layout, one EmoEvaluation file per dialog (turns in the order given), each turn
    followed by `evaluations`. A turn without a `span` starts `PAUSE_S` after the previous one
    of its dialog and lasts as long as its audio."""
    dialogs: dict[str, _Dialog] = {}
    n = 0
    for turn in turns:
        d = dialogs.setdefault(turn.dialog, _Dialog(turn.session))
        save(root / f"Session{d.session}" / "sentences" / "wav" / turn.dialog / f"{turn.utt_id}.wav", turn.audio)
        if turn.span is None:
            dur = seconds(turn.audio)
            start, end = d.t, d.t + dur
            d.t += dur + PAUSE_S
        else:
            start, end = turn.span
        v, a, dom = turn.vad
        d.lines.append(f"[{start:.4f} - {end:.4f}]\t{turn.utt_id}\t{turn.label}\t[{v:.4f}, {a:.4f}, {dom:.4f}]\n")
        d.lines.append(evaluations)
        n += 1
    for name, d in dialogs.items():
        ev = root / f"Session{d.session}" / "dialog" / "EmoEvaluation" / f"{name}.txt"
        ev.parent.mkdir(parents=True, exist_ok=True)
        ev.write_text("".join(d.lines), encoding="utf-8")
    return n


# ---- ZED


@dataclass(frozen=True)
class ZedUtterance:
    """One ZED utterance: `<root>/audio/<utt_id>.wav` holding one emotional segment [start, end]
    (seconds) between neutral speech."""

    utt_id: str
    emotion: str  # spelled as a word: angry, happy, sad
    start: float
    end: float
    transcription: str
    audio: Audio


def write_zed(root: Path, utterances: Iterable[ZedUtterance]) -> int:
    """`<root>/ZED.json` (utt -> {wav, duration, emotion: [{emo, start, end}], transcription}, paths
    under speechbrain's `datafolder` placeholder, times to 4 decimals) and the audio."""
    data: dict[str, Any] = {}
    for u in utterances:
        save(root / "audio" / f"{u.utt_id}.wav", u.audio)
        data[u.utt_id] = {
            "wav": f"datafolder/audio/{u.utt_id}.wav",
            "duration": round(seconds(u.audio), 4),
            "emotion": [{"emo": u.emotion, "start": round(u.start, 4), "end": round(u.end, 4)}],
            "transcription": u.transcription,
        }
    (root / "ZED.json").write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return len(data)


# ---- csv (TJD and any corpus given as a table)


@dataclass(frozen=True)
class TableUtterance:
    """One row of a `csv`-format corpus: `path, emotion, speaker, text, utt_id`."""

    utt_id: str
    speaker: str
    label: str  # in the corpus's own vocabulary (mapped by its `label_map`)
    text: str
    audio: Audio
    path: str = ""  # the audio, relative to the root; "" wav/<utt_id>.wav


def write_table(root: Path, utterances: Iterable[TableUtterance], table: str = "labels.csv") -> int:
    """`<root>/<table>` and the audio it names."""
    rows = []
    for u in utterances:
        path = u.path or f"wav/{u.utt_id}.wav"
        save(root / path, u.audio)
        rows.append([path, u.label, u.speaker, u.text, u.utt_id])
    out = root / table
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "emotion", "speaker", "text", "utt_id"])
        w.writerows(rows)
    return len(rows)
