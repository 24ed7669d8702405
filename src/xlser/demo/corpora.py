"""The demo corpora: what each says, written in the on-disk layout of the real corpus it stands
for (by xlser.demo.layouts), so the demo runs through the same adapters as real data (see
xlser.data.corpora).

Each `<layout>_utterances` generator takes a `Synth` (voice, emotion, sentence index -> audio)
and yields the layout's records, synthesising each when the writer asks for it; the rehearsal
(xlser.demo.rehearsal) drives the same generators with its own synthesiser.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from xlser.demo import layouts
from xlser.demo.espeak import ESpeak
from xlser.demo.layouts import Clip, EsdUtterance, IemocapTurn, PavoqueUtterance, TableUtterance, ZedUtterance
from xlser.demo.prosody import emotion_prosody, jitter, speaker_shift
from xlser.demo.sentences import sentences_for
from xlser.spelling import fold

log = logging.getLogger(__name__)

FEMALE, MALE = ["f1", "f2", "f3", "f4", "f5"], ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]
ESD_FOLDERS = {"neutral": "Neutral", "angry": "Angry", "happy": "Happy", "sad": "Sad", "surprise": "Surprise"}
ESD_CN_WORDS = {"neutral": "中立", "angry": "生气", "happy": "快乐", "sad": "伤心", "surprise": "惊喜"}
PAVOQUE_STYLES = {"neutral": "Neutral", "happy": "Poppy", "sad": "Obadiah", "angry": "Spike", "poker": "Poker"}
IEMOCAP_LABELS = {"neutral": "neu", "happy": "hap", "angry": "ang", "sad": "sad"}
#: labels outside the study's set, voiced like a close emotion (exercise the adapters' filters)
EXTRA_LIKE = {"surprise": "happy", "poker": "neutral", "exc": "happy", "fru": "angry", "xxx": "neutral"}


@dataclass
class Speaker:
    name: str
    voice: str
    shift: dict[str, float]
    gender: str


class Voice(Protocol):
    """What the corpus generators ask of a synthesiser: the demo's `Synth`, or the rehearsal's
    tones (xlser.demo.rehearsal.ToneSynth)."""

    sample_rate: int
    corpus: str
    base_voice: str

    def speakers(self, n: int, prefix: Callable[[int, str], str]) -> list[Speaker]: ...

    def say(self, speaker: Speaker, emotion: str, sentence: int) -> np.ndarray: ...

    def text(self, sentence: int) -> str: ...


class Synth:
    """Synthesises one corpus's utterances: language-specific emotion prosody, per-speaker
    shift, per-utterance jitter, a little background noise; seeded per corpus."""

    def __init__(self, voice: str, lang: str, seed: int, corpus: str, sample_rate: int) -> None:
        self.engine = ESpeak.get()
        self.base_voice, self.lang = voice.split("+", 1)[0], lang
        self.sentences = sentences_for(voice)
        self.rng = np.random.default_rng([seed, zlib.crc32(corpus.encode())])
        self.sample_rate, self.corpus = sample_rate, corpus

    def speakers(self, n: int, prefix: Callable[[int, str], str]) -> list[Speaker]:
        out = []
        for i in range(n):
            gender = "F" if i % 2 == 0 else "M"
            variant = (FEMALE if gender == "F" else MALE)[(i // 2) % (5 if gender == "F" else 7)]
            out.append(Speaker(prefix(i, gender), f"{self.base_voice}+{variant}", speaker_shift(self.rng), gender))
        return out

    def say(self, speaker: Speaker, emotion: str, sentence: int) -> np.ndarray:
        emo = EXTRA_LIKE.get(emotion, emotion)
        prosody = jitter(emotion_prosody(emo, self.lang), speaker.shift, self.rng)
        wav = self.engine.synth(self.sentences[sentence % len(self.sentences)], speaker.voice, prosody)
        if self.engine.sample_rate != self.sample_rate:
            from xlser.data.audio import resample

            wav = resample(wav, self.engine.sample_rate, self.sample_rate)
        wav = wav + self.rng.normal(0, 0.003, size=wav.shape).astype(np.float32)
        return np.clip(wav, -1, 1).astype(np.float32)

    def text(self, sentence: int) -> str:
        return self.sentences[sentence % len(self.sentences)]


def _plan(
    speakers: list[Speaker], emotions: list[str], per: int, extra: dict[str, int]
) -> list[tuple[Speaker, str, int]]:
    """(speaker, emotion, sentence index) for every utterance, extra labels included."""
    items = []
    for spk in speakers:
        for emo in emotions:
            items += [(spk, emo, k) for k in range(per)]
        for lab, n in extra.items():
            items += [(spk, lab, k) for k in range(n)]
    return items


def esd_utterances(s: Voice, spec: Mapping[str, Any], emotions: list[str]) -> Iterator[EsdUtterance]:
    """`spec["speakers"]` speakers (0001 ...), each `per_speaker_emotion` utterances per emotion
    and two of surprise (a label the study leaves out), numbered in ESD's emotion order."""
    speakers = s.speakers(spec["speakers"], lambda i, g: f"{i + 1:04d}")
    order = ["neutral", "angry", "happy", "sad", "surprise"]  # ESD numbers utterances in this order
    for spk in tqdm(speakers, desc=f"ESD {s.corpus}", mininterval=2.0):
        idx = 0
        for emo in order:
            count = spec["per_speaker_emotion"] if emo in emotions else (2 if emo == "surprise" else 0)
            for k in range(count):
                idx += 1
                yield EsdUtterance(
                    speaker=spk.name,
                    utt_id=f"{spk.name}_{idx:06d}",
                    emotion=ESD_FOLDERS[emo],
                    label=ESD_CN_WORDS[emo],
                    text=s.text(k),
                    audio=Clip(s.say(spk, emo, k), s.sample_rate),
                )


def pavoque_utterances(s: Voice, spec: Mapping[str, Any], emotions: list[str]) -> Iterator[PavoqueUtterance]:
    """One male speaker, `per_speaker_emotion` prompts per style and three in Poker (unused by
    the study), 24-bit like the original."""
    spk = s.speakers(1, lambda i, g: "pavoque")[0]
    spk.voice = f"{s.base_voice}+m3"
    plan = [(e, k) for e in emotions for k in range(spec["per_speaker_emotion"])] + [("poker", k) for k in range(3)]
    for emo, k in tqdm(plan, desc=f"PAVOQUE {s.corpus}", mininterval=2.0):
        audio = Clip(s.say(spk, emo, k), s.sample_rate, "PCM_24")
        yield PavoqueUtterance(PAVOQUE_STYLES[emo], f"prompt_{k:04d}", audio)


#: the demo's EmoEvaluation lines under each turn: three categorical evaluators, two dimensional
DEMO_EVALUATIONS = (
    "C-E1:\tNeutral;\t()\nC-E2:\tNeutral;\t()\nC-E4:\tNeutral;\t()\n"
    "A-E1:\tval 3; act 2; dom  2;\t()\nA-E2:\tval 3; act 3; dom  3;\t()\n\n"
)
#: [V, A, D] per label (others: 2.5, 3, 3)
IEMOCAP_VAD = {"neu": (3.0, 2.5, 2.5), "hap": (4.0, 3.5, 3.0), "ang": (1.5, 4.0, 4.0), "sad": (2.0, 1.5, 2.0)}


def iemocap_turns(s: Voice, spec: Mapping[str, Any], emotions: list[str]) -> Iterator[IemocapTurn]:
    """Per session: two speakers (F, M), two improvised dialogs and one scripted one; a few
    utterances carry labels the study did not use (exc, fru, xxx)."""
    per = spec["per_speaker_emotion"]
    for sess in tqdm(range(1, spec["sessions"] + 1), desc=f"IEMOCAP {s.corpus}", mininterval=2.0):
        speakers = s.speakers(2, lambda i, g, sess=sess: f"Ses{sess:02d}{g}")
        lead = "F" if sess % 2 else "M"
        dialogs: dict[str, list[tuple[Speaker, str, str, int]]] = {
            f"Ses{sess:02d}{lead}_impro01": [],
            f"Ses{sess:02d}{lead}_impro02": [],
            f"Ses{sess:02d}{lead}_script01_1": [],
        }
        names = list(dialogs)
        for spk in speakers:
            items = [(e, k) for e in emotions for k in range(per)]
            for j, (emo, k) in enumerate(items):
                dialogs[names[j % 2]].append((spk, IEMOCAP_LABELS[emo], emo, k))
            for lab in ("exc", "fru", "xxx"):
                dialogs[names[0]].append((spk, lab, lab, per))
            for emo in ("neutral", "sad"):
                dialogs[names[2]].append((spk, IEMOCAP_LABELS[emo], emo, per + 1))
        for dialog, utts in dialogs.items():
            counters = {"F": 0, "M": 0}
            for spk, label, emo, k in utts:
                uid = f"{dialog}_{spk.gender}{counters[spk.gender]:03d}"
                counters[spk.gender] += 1
                audio = Clip(s.say(spk, emo, k), s.sample_rate)
                yield IemocapTurn(uid, label, audio, vad=IEMOCAP_VAD.get(label, (2.5, 3.0, 3.0)))


def table_utterances(
    s: Voice, spec: Mapping[str, Any], emotions: list[str], corpus: Mapping[str, Any]
) -> Iterator[TableUtterance]:
    """`spec["speakers"]` speakers (TJ01 ...), labels in the corpus's own vocabulary (the keys of
    its `label_map`)."""
    own = {fold(v): k for k, v in corpus.get("label_map", {}).items() if v is not None}
    speakers = s.speakers(spec["speakers"], lambda i, g: f"TJ{i + 1:02d}")
    plan = _plan(speakers, emotions, spec["per_speaker_emotion"], {})
    for j, (spk, emo, k) in enumerate(tqdm(plan, desc=f"csv {s.corpus}", mininterval=2.0)):
        audio = Clip(s.say(spk, emo, k), s.sample_rate)
        yield TableUtterance(f"{spk.name}_{j:04d}", spk.name, own.get(emo, emo), s.text(k), audio)


def zed_utterances(s: Voice, spec: Mapping[str, Any], emotions: list[str]) -> Iterator[ZedUtterance]:
    """Neutral - emotional - neutral, the emotional segment's bounds known exactly."""
    speakers = s.speakers(spec["speakers"], lambda i, g: f"zed{i + 1:02d}")
    sed_emotions = [e for e in spec.get("emotions", ["angry", "happy", "sad"]) if e in emotions]
    gap = np.zeros(int(0.15 * s.sample_rate), np.float32)
    j = 0
    for emo in sed_emotions:
        for k in tqdm(range(spec["per_emotion"]), desc=f"ZED {emo}", mininterval=2.0):
            spk = speakers[k % len(speakers)]
            parts = [s.say(spk, "neutral", j), s.say(spk, emo, j + 1), s.say(spk, "neutral", j + 2)]
            start = (len(parts[0]) + len(gap)) / s.sample_rate
            end = start + len(parts[1]) / s.sample_rate
            wav = np.concatenate([parts[0], gap, parts[1], gap, parts[2]])
            text = " ".join(s.text(j + i) for i in range(3))
            yield ZedUtterance(f"{spk.name}_{emo}_{k:03d}", emo, start, end, text, Clip(wav, s.sample_rate))
            j += 3


def build_demo_corpus(
    out_dir: str | Path,
    name: str,
    spec: dict[str, Any],
    corpus: dict[str, Any],
    emotions: list[str],
    sample_rate: int = 22050,
    seed: int = 0,
) -> int:
    """Write one demo corpus into `out_dir` (via a temporary sibling renamed at the end).

    Synthesis runs in a fresh interpreter: eSpeak NG's output depends on what it synthesised
    before in the same process, so this is what makes a corpus a function of its seed.
    (A subprocess, not multiprocessing: spawn would re-run a Snakemake script's __main__.)
    """
    # the emotions as a set, in the demo's own spelling: a corpus depends on which are configured,
    # never on their order or case (the scan maps its labels to the configured names)
    args = json.dumps(
        [str(out_dir), name, spec, corpus, sorted({fold(e) for e in emotions}), int(sample_rate), int(seed)]
    )
    proc = subprocess.run([sys.executable, "-m", "xlser.demo.corpora", args], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"synthesis of demo corpus {name} failed (exit {proc.returncode}); see the log above")
    return int(proc.stdout.strip().splitlines()[-1])


def _build(
    out_dir: str | Path,
    name: str,
    spec: dict[str, Any],
    corpus: dict[str, Any],
    emotions: list[str],
    sample_rate: int,
    seed: int,
) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    import torch

    torch.set_num_threads(1)  # the resampling convolution: the audio must not depend on the job's cores
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    s = Synth(spec["voice"], corpus["lang"], seed, name, sample_rate)
    fmt = corpus["format"]
    try:
        if fmt == "esd":
            n = layouts.write_esd(tmp, esd_utterances(s, spec, emotions))
        elif fmt == "pavoque":
            n = layouts.write_pavoque(tmp, pavoque_utterances(s, spec, emotions))
        elif fmt == "iemocap":
            n = layouts.write_iemocap(tmp, iemocap_turns(s, spec, emotions), DEMO_EVALUATIONS)
        elif fmt == "csv":
            n = layouts.write_table(tmp, table_utterances(s, spec, emotions, corpus), corpus.get("table", "labels.csv"))
        elif fmt == "zed":
            n = layouts.write_zed(tmp, zed_utterances(s, spec, emotions))
        else:
            raise ValueError(f"demo corpus {name}: no writer for format '{fmt}'")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: wrote %d utterances (%s layout) to %s", name, n, fmt, out)
    return n


if __name__ == "__main__":
    print(_build(*json.loads(sys.argv[1])))
