"""The study-scale rehearsal: paper.yaml's protocol run on synthetic stand-ins of its inputs.

Why: nobody can tell from the demo (hidden size 48, a few hundred utterances) whether the
study's run finishes, in what time and memory. The rehearsal writes corpora with the real
corpora's on-disk layouts, sizes, per-emotion counts and duration distributions, and
randomly initialised checkpoints with the study's exact architectures (wav2vec2-base x3 as
`save_pretrained` folders, a WavLM-large emotion diarizer in speechbrain's format), then
runs paper.yaml's protocol on them, changed only in what `rehearsal_config` replaces:
input paths (corpus roots, model sources, listening files), simulated listeners, and one
`scale` that shrinks utterance counts, epochs and fine-tuning folds (scale 1: the whole
study). The audio is cheap on purpose: harmonic tones in noise whose pitch, loudness,
vibrato and syllable rate depend on the emotion, written in seconds, not synthesised speech.

The spec is `config/rehearsal.yaml`; `tools/rehearsal.py` builds, runs and costs it.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xlser.config import USER_PATHS, check_paths
from xlser.demo import layouts
from xlser.demo.corpora import PAVOQUE_STYLES, Speaker, esd_utterances, table_utterances, zed_utterances
from xlser.demo.layouts import Clip, IemocapTurn, PavoqueUtterance
from xlser.errors import ConfigError

#: emotion -> (f0 Hz, loudness, vibrato Hz, syllables/s, noise level): textbook correlates
TONES: dict[str, tuple[float, float, float, float, float]] = {
    "neutral": (130.0, 0.20, 0.0, 4.0, 0.010),
    "happy": (210.0, 0.30, 6.0, 5.0, 0.015),
    "angry": (170.0, 0.45, 2.0, 5.5, 0.040),
    "sad": (105.0, 0.10, 0.0, 2.5, 0.005),
}
#: labels outside the study's four, toned like a close emotion (they exercise the adapters' filters)
LIKE = {
    "surprise": "happy",
    "poker": "neutral",
    "exc": "happy",
    "fru": "angry",
    "xxx": "neutral",
    "sur": "happy",
    "fea": "sad",
    "dis": "angry",
    "oth": "neutral",
}
IEMOCAP_EMOTIONS = {"neu": "neutral", "hap": "happy", "ang": "angry", "sad": "sad"}
IEMOCAP_IMPRO = [f"impro{i:02d}" for i in range(1, 9)]
IEMOCAP_SCRIPT = [f"script0{i}_{j}" for i in (1, 2, 3) for j in (1, 2)]

#: the study's checkpoints' architectures (config.json of the hub models); the rest are defaults
WAV2VEC2_BASE: dict[str, Any] = {}  # Wav2Vec2Config() is wav2vec2-base: 768 x 12, group-norm CNN, no conv bias
WAVLM_LARGE: dict[str, Any] = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "conv_bias": True,
    "num_buckets": 320,
    "max_bucket_distance": 800,
}


# ---- scale


def scaled(value: int, scale: float, floor: int) -> int:
    """`value` x `scale`, rounded, never below `floor` (and `value` itself at scale 1)."""
    return max(floor, round(value * scale)) if scale < 1 else int(value)


def scale_protocol(cfg: dict[str, Any], scale: float) -> dict[str, Any]:
    """Shrink the protocol's sizes by `scale` (0 < scale <= 1), in place; returns `cfg`.

    Utterance counts (train per emotion, validation, test, listening stimuli, SED
    utterances), epoch budgets and patience (probe, fine-tuning) and the fine-tuning folds
    scale; everything else (experiments, strategies, layers, learning rates, heads, seeds,
    the layer-wise folds, which are cheap) stays paper.yaml's. Floors keep every stage
    meaningful: 4 training and 2 validation/test utterances per emotion, 2 epochs.
    """
    if not 0 < scale <= 1:
        raise ConfigError(f"rehearsal scale {scale}: expected 0 < scale <= 1")
    sp = cfg["splits"]
    n_emo = len(cfg.get("emotions", [])) or 4
    sp["train_per_emotion"] = scaled(sp["train_per_emotion"], scale, 4)
    for key in ("val", "test"):
        sp[key] = n_emo * scaled(sp[key] // n_emo, scale, 2)
    sp["listening_per_emotion"] = scaled(sp.get("listening_per_emotion", 12), scale, 3)
    for section in ("probe", "peft"):
        if section in cfg:
            sec = cfg[section]
            sec["max_epochs"] = scaled(sec.get("max_epochs", 100), scale, 2)
            sec["patience"] = scaled(sec.get("patience", 10), scale, 1)
    if "peft" in cfg and "folds" in cfg["peft"]:
        folds = list(cfg["peft"]["folds"])
        cfg["peft"]["folds"] = folds[: scaled(len(folds), scale, 1)]
    if "sed" in cfg:
        cfg["sed"]["per_emotion"] = scaled(cfg["sed"].get("per_emotion", 8), scale, 2)
    return cfg


# ---- the rehearsal's config


@dataclass(frozen=True)
class Layout:
    """Where the rehearsal's inputs live (absolute: Snakemake runs in its own working folder)."""

    inputs: Path

    def corpus(self, name: str) -> Path:
        return self.inputs / "corpora" / name

    def model(self, name: str) -> Path:
        return self.inputs / "models" / name

    def sed_model(self, name: str) -> Path:
        return self.inputs / "models" / f"SED-{name}"

    @property
    def listening(self) -> Path:
        return self.inputs / "listening"


def rehearsal_config(
    protocol: Mapping[str, Any],
    spec: Mapping[str, Any],
    scale: float,
    layout: Layout,
    protocol_path: str = "config/paper.yaml",
) -> dict[str, Any]:
    """paper.yaml's protocol with the rehearsal's inputs and `scale` (see module docstring).

    Every user path of the protocol (xlser.config.USER_PATHS) is replaced or removed: corpus
    roots and model sources point at the synthetic ones, fold lists and a pinned SED subset
    are dropped (the synthetic ids are not the study's; folds are drawn as without them),
    listening files become the simulated listeners' (a `demo.listeners` section). A corpus
    or model the spec does not describe, or a placeholder left, is a ConfigError.
    """
    cfg = copy.deepcopy(dict(protocol))
    where = f"{protocol_path} (rehearsal spec: config/rehearsal.yaml)"
    for name, c in cfg["corpora"].items():
        if name not in spec["corpora"]:
            raise ConfigError(f"{where}: corpus {name} has no synthetic stand-in under corpora.{name}")
        c["root"] = str(layout.corpus(name))
        c.pop("folds", None)
    for name, m in cfg.get("models", {}).items():
        if name not in spec["models"]:
            raise ConfigError(f"{where}: model {name} has no rehearsal checkpoint under models.{name}")
        m["source"] = str(layout.model(name))
    sed = cfg.get("sed", {})
    sed.pop("subset", None)
    for name, m in sed.get("models", {}).items():
        if name not in spec.get("sed_models", {}):
            raise ConfigError(f"{where}: SED model {name} has no rehearsal checkpoint under sed_models.{name}")
        m["source"] = str(layout.sed_model(name))
    human = cfg.get("human")
    if human is not None:
        human.pop("stimuli", None)
        human["listeners"] = str(layout.listening / "listeners.csv")
        human["webmushra"] = [str(layout.listening / "results" / t["id"]) for t in human.get("tests", [])]
        human["responses"] = [str(layout.listening / "segments.csv")] if sed.get("corpus") else []
        cfg["demo"] = {"listeners": dict(spec["listeners"])}
    scale_protocol(cfg, scale)
    known = {p.split(".", 1)[0] for p, _, _ in USER_PATHS}
    for key in known - {"corpora", "models", "sed", "human"}:
        raise ConfigError(f"{where}: user path section '{key}' is new; teach xlser.demo.rehearsal to replace it")
    return cfg


def check_config(cfg: Mapping[str, Any], layout: Layout) -> None:
    """No placeholder left, every input present (the simulated listeners' files are made by jobs)."""
    human = cfg.get("human", {})
    produced = [human.get("listeners", ""), *human.get("webmushra", []), *human.get("responses", [])]
    check_paths(cfg, produced=[p for p in produced if p])


# ---- audio


class ToneSynth:
    """Stands in for xlser.demo.corpora.Synth (same interface): emotion-dependent tones.

    Durations are log-normal (median, sigma) clipped to [min, max]; the first utterance of
    every corpus takes `long_s`, so each scale has the corpus's longest utterance in it.
    """

    def __init__(
        self,
        corpus: str,
        lang: str,
        seed: int,
        sample_rate: int,
        duration: Mapping[str, float],
        long_s: float | None = None,
    ) -> None:
        self.rng = np.random.default_rng([seed, zlib.crc32(corpus.encode())])
        self.sample_rate, self.lang, self.base_voice = int(sample_rate), lang, "tone"
        self.corpus = corpus
        self.duration = dict(duration)
        self.long_s = long_s
        self.seconds = 0.0

    def speakers(self, n: int, prefix: Any) -> list[Speaker]:
        out = []
        for i in range(n):
            gender = "F" if i % 2 == 0 else "M"
            pitch = (1.6 if gender == "F" else 1.0) * float(self.rng.uniform(0.85, 1.15))
            out.append(Speaker(prefix(i, gender), "tone", {"pitch": pitch}, gender))
        return out

    def draw_seconds(self) -> float:
        d = self.duration
        if self.long_s is not None:
            s, self.long_s = float(self.long_s), None
            return s
        s = float(d["median"]) * math.exp(float(d["sigma"]) * float(self.rng.standard_normal()))
        return float(min(max(s, d["min"]), d["max"]))

    def say(self, speaker: Speaker, emotion: str, sentence: int, seconds: float | None = None) -> np.ndarray:
        f0, amp, vib, syl, noise = TONES[LIKE.get(emotion, emotion)]
        n = int((seconds or self.draw_seconds()) * self.sample_rate)
        t = np.arange(n, dtype=np.float32) / self.sample_rate
        f = f0 * speaker.shift.get("pitch", 1.0) * float(self.rng.uniform(0.95, 1.05))
        phase = 2 * np.pi * (f * t + (vib and 0.02 * f / vib * np.sin(2 * np.pi * vib * t)))
        voiced = sum(np.sin(k * phase) / k for k in (1, 2, 3)).astype(np.float32)
        envelope = (0.55 + 0.45 * np.sin(2 * np.pi * syl * t + float(self.rng.uniform(0, 6.28)))).astype(np.float32)
        wav = amp * float(self.rng.uniform(0.8, 1.2)) * envelope * voiced
        wav += self.rng.normal(0, noise, n).astype(np.float32)
        self.seconds += n / self.sample_rate
        return np.clip(wav, -1, 1).astype(np.float32)

    def text(self, sentence: int) -> str:
        return f"synthetic sentence {sentence}"


def pavoque_count_utterances(s: ToneSynth, counts: Mapping[str, int]) -> Iterator[PavoqueUtterance]:
    """`counts[emotion]` prompts per style (`prompt_<nnnn>`), one male actor, 24-bit."""
    spk = s.speakers(2, lambda i, g: "pavoque")[1]  # one male actor
    for emo, count in counts.items():
        for k in range(count):
            audio = Clip(s.say(spk, emo, k), s.sample_rate, "PCM_24")
            yield PavoqueUtterance(PAVOQUE_STYLES[emo], f"prompt_{k:04d}", audio)


def iemocap_count_turns(
    s: ToneSynth, sessions: int, counts: Mapping[str, int], improvised: Mapping[str, float]
) -> Iterator[IemocapTurn]:
    """`counts[label]` turns per session, a share `improvised[label]` of them in improvised
    dialogs (impro01-08), the rest in scripted ones (script01_1-script03_2); speakers alternate
    F and M; dialogs in name order."""
    for sess in range(1, sessions + 1):
        speakers = {sp.gender: sp for sp in s.speakers(2, lambda i, g, sess=sess: f"Ses{sess:02d}{g}")}
        dialogs: dict[str, list[tuple[str, str]]] = {}
        for label, count in counts.items():
            n_impro = round(count * improvised.get(label, 0.5))
            for k in range(count):
                kinds = IEMOCAP_IMPRO if k < n_impro else IEMOCAP_SCRIPT
                name = kinds[k % len(kinds)]
                lead = "F" if (kinds.index(name) + sess) % 2 else "M"
                dialogs.setdefault(f"Ses{sess:02d}{lead}_{name}", []).append((label, "FM"[k % 2]))
        for dialog, utts in sorted(dialogs.items()):
            counters = {"F": 0, "M": 0}
            for label, gender in utts:
                uid = f"{dialog}_{gender}{counters[gender]:03d}"
                counters[gender] += 1
                wav = s.say(speakers[gender], IEMOCAP_EMOTIONS.get(label, label), counters[gender])
                yield IemocapTurn(uid, label, Clip(wav, s.sample_rate))


def corpus_plan(spec: Mapping[str, Any], cfg: Mapping[str, Any], scale: float) -> dict[str, Any]:
    """The scaled sizes of one synthetic corpus: real counts x `scale`, never fewer than the
    scaled protocol's splits need (train + validation + test + listening stimuli, per unit)."""
    sp = cfg["splits"]
    n_emo = len(cfg["emotions"])
    t, v, listen = sp["train_per_emotion"], max(sp["val"], sp["test"]) // n_emo, sp.get("listening_per_emotion", 0)
    w = spec["writer"]
    if w == "esd":
        units = int(spec["speakers"])
        floor = math.ceil((t + listen) / max(1, units - 2)) + v + 1
        return {"speakers": units, "per_speaker_emotion": scaled(spec["per_speaker_emotion"], scale, floor)}
    if w == "pavoque":
        floor = t + 2 * v + listen + 2
        return {
            "counts": {e: scaled(c, scale, floor if e in cfg["emotions"] else 1) for e, c in spec["counts"].items()}
        }
    if w == "iemocap":
        sessions = int(spec["sessions"])
        floor = math.ceil((t + listen) / max(1, sessions - 1)) + 2 * v + 2
        study = set(IEMOCAP_EMOTIONS)
        return {
            "sessions": sessions,
            "improvised": dict(spec["improvised"]),
            "counts": {
                lab: scaled(math.ceil(c / sessions), scale, floor if lab in study else 1)
                for lab, c in spec["counts"].items()
            },
        }
    if w == "zed":
        per = cfg.get("sed", {}).get("per_emotion", 8)
        return {"speakers": int(spec["speakers"]), "per_emotion": scaled(spec["per_emotion"], scale, per + 2)}
    if w == "csv":
        floor = math.ceil(listen / int(spec["speakers"])) + 1
        return {
            "speakers": int(spec["speakers"]),
            "per_speaker_emotion": scaled(spec["per_speaker_emotion"], scale, floor),
        }
    raise ConfigError(f"config/rehearsal.yaml: corpus writer '{w}': expected esd, pavoque, iemocap, zed or csv")


def write_corpus(
    out: Path,
    name: str,
    spec: Mapping[str, Any],
    corpus: Mapping[str, Any],
    cfg: Mapping[str, Any],
    scale: float,
    seed: int,
) -> dict[str, Any]:
    """Write one synthetic corpus into `out` (via a sibling renamed at the end); returns
    {utterances, seconds, plan}."""
    plan = corpus_plan(spec, cfg, scale)
    emotions = list(cfg["emotions"])
    tmp = out.with_name(f".{out.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    s = ToneSynth(name, corpus["lang"], seed, spec["sample_rate"], spec["duration"], spec.get("long_s"))
    w = spec["writer"]
    if w == "esd":
        n = layouts.write_esd(tmp, esd_utterances(s, plan, emotions))
    elif w == "pavoque":
        n = layouts.write_pavoque(tmp, pavoque_count_utterances(s, plan["counts"]))
    elif w == "iemocap":
        n = layouts.write_iemocap(tmp, iemocap_count_turns(s, plan["sessions"], plan["counts"], plan["improvised"]))
    elif w == "zed":
        sed_emotions = cfg.get("sed", {}).get("emotions", ["angry", "happy", "sad"])
        n = layouts.write_zed(tmp, zed_utterances(s, {**plan, "emotions": sed_emotions}, emotions))
    else:
        utterances = table_utterances(s, plan, emotions, corpus)
        n = layouts.write_table(tmp, utterances, corpus.get("table", "labels.csv"))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return {"utterances": n, "seconds": round(s.seconds, 1), "plan": plan}


# ---- checkpoints


def write_wav2vec2_base(out: Path, seed: int) -> Path:
    """A random wav2vec2-base (`Wav2Vec2Config()`: 768 x 12, group-norm CNN), saved as the hub's:
    `save_pretrained` weights and config, and a feature extractor that returns no attention mask."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(seed)
    tmp = out.with_name(f".{out.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    Wav2Vec2Model(Wav2Vec2Config(**WAV2VEC2_BASE)).save_pretrained(tmp)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    ).save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def write_wavlm_large_sed(out: Path, seed: int) -> Path:
    """A random WavLM-large emotion diarizer in speechbrain's format (xlser.sed.sb_checkpoint),
    the form the `speechbrain` SED backend loads: hyperparams.yaml + checkpoints, its WavLM a
    local `save_pretrained` folder (`<out>/wavlm`)."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    from xlser.sed.sb_checkpoint import write_sb_checkpoint

    torch.manual_seed(seed)
    shutil.rmtree(out, ignore_errors=True)
    wavlm = out / "wavlm"
    WavLMModel(WavLMConfig(**WAVLM_LARGE)).save_pretrained(wavlm)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    ).save_pretrained(wavlm)
    write_sb_checkpoint(out, wavlm, seed=seed)
    return out
