"""Emotions as prosody: per-emotion profiles, per-language offsets, per-speaker and
per-utterance jitter.

The profiles follow the textbook acoustic correlates of basic emotions (anger: loud, fast,
raised pitch; happiness: high, wide pitch range; sadness: slow, low, flat, quiet, pauses).
The per-language offsets make each language voice an emotion a little differently, so that
a classifier trained on one language loses accuracy on another (as across real languages);
the dialect stand-in (`TJ`) differs most: faster, with a brighter neutral and a sad that
is less subdued, which is also what the study's listeners found hard.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from xlser.demo.espeak import Prosody

PROFILES: dict[str, Prosody] = {
    "neutral": Prosody(rate=160, volume=100, pitch=42, range=30, wordgap=1),
    "happy": Prosody(rate=200, volume=130, pitch=82, range=95, wordgap=0),
    "angry": Prosody(rate=205, volume=190, pitch=62, range=55, wordgap=0),
    "sad": Prosody(rate=105, volume=55, pitch=18, range=6, wordgap=6),
}

#: language -> emotion -> additive offsets to the profile
LANGUAGE_OFFSETS: dict[str, dict[str, dict[str, float]]] = {
    "CN": {},
    "EN": {"happy": {"pitch": -6, "range": -10}, "angry": {"volume": -20, "rate": -10}, "sad": {"rate": 10}},
    "DE": {
        "happy": {"pitch": -10, "rate": -15},
        "angry": {"pitch": -8, "volume": 10},
        "neutral": {"rate": -10},
        "sad": {"pitch": 6, "range": 8},
    },
    "TJ": {
        "neutral": {"rate": 40, "pitch": 12, "range": 25},
        "happy": {"rate": 15, "pitch": -14, "range": -25},
        "angry": {"rate": 15, "pitch": 14, "volume": -40},
        "sad": {"rate": 40, "pitch": 14, "range": 18, "volume": 25, "wordgap": -4},
    },
}


def emotion_prosody(emotion: str, lang: str) -> Prosody:
    """The profile of `emotion` as voiced in `lang`."""
    base = PROFILES[emotion]
    offs = LANGUAGE_OFFSETS.get(lang, {}).get(emotion, {})
    return replace(base, **{k: getattr(base, k) + v for k, v in offs.items()})


def speaker_shift(rng: np.random.Generator) -> dict[str, float]:
    """A speaker's habitual pitch and rate."""
    return {"pitch": rng.normal(0, 6), "rate": rng.normal(0, 10)}


def jitter(p: Prosody, speaker: dict[str, float], rng: np.random.Generator) -> Prosody:
    """Speaker shift plus per-utterance variation, clipped to eSpeak's ranges."""
    return Prosody(
        rate=float(np.clip(p.rate + speaker["rate"] + rng.normal(0, 8), 80, 400)),
        volume=float(np.clip(p.volume + rng.normal(0, 10), 20, 200)),
        pitch=float(np.clip(p.pitch + speaker["pitch"] + rng.normal(0, 4), 0, 100)),
        range=float(np.clip(p.range + rng.normal(0, 6), 0, 100)),
        wordgap=float(max(0.0, p.wordgap + rng.normal(0, 0.7))),
    )
