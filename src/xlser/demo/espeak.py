"""A minimal ctypes binding to libespeak-ng as shipped by `espeakng-loader` (no system package).

Synchronous synthesis into memory: a callback collects 16-bit samples at the library's
native rate (22.05 kHz). One process-wide initialisation; calls are serialised by a lock.

Voice variants with breath noise (`f2`, `f3`, `f5`) draw from eSpeak's own random number
generator, which eSpeak seeds from the clock: the same call gave other audio in every run.
Each synthesis therefore seeds it first (`espeak_ng_SetRandSeed`, and the C library's `rand`
that the Klatt voices use) from the utterance's own identity, `utterance_seed` (voice, text
and the prosody values eSpeak receives), never from a shared stream: an utterance's audio does
not depend on the clock nor on how many random numbers other utterances drew.
"""

from __future__ import annotations

import ctypes
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8 = 1
POS_CHARACTER = 1
# espeak_PARAMETER
RATE, VOLUME, PITCH, RANGE, WORDGAP = 1, 2, 3, 4, 7

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Prosody:
    """eSpeak's prosody controls: rate (words/min), volume (0-200), pitch and range (0-100),
    word gap (units of 10 ms)."""

    rate: float = 175
    volume: float = 100
    pitch: float = 50
    range: float = 50
    wordgap: float = 0


def utterance_seed(text: str, voice: str, values: tuple[int, ...]) -> int:
    """The seed of one synthesis: a CRC-32 of the voice, the text and the prosody values as
    eSpeak receives them (rounded), so equal calls sound equal in any run and any order."""
    key = "\0".join([voice, text, *map(str, values)])
    return zlib.crc32(key.encode("utf-8"))


class ESpeak:
    """The loaded library; use `synth(text, voice, prosody)`."""

    _instance: ESpeak | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.sample_rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, ctypes.c_char_p(data), 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed (data path {data.decode()})")
        self._chunks: list[np.ndarray] = []
        self._cb = _CALLBACK(self._collect)  # keep a reference: ctypes must not free it
        self.lib.espeak_SetSynthCallback(self._cb)
        self.lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self._libc = ctypes.CDLL(None)  # `rand` as eSpeak resolves it (the process's C library)
        self._libc.srand.argtypes = [ctypes.c_uint]

    @classmethod
    def get(cls) -> ESpeak:
        with cls._lock:
            if cls._instance is None:
                cls._instance = ESpeak()
            return cls._instance

    def _collect(self, wav: ctypes.POINTER(ctypes.c_short), n: int, events: ctypes.c_void_p) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def check_voice(self, voice: str) -> None:
        """eSpeak silently falls back to a default voice; an unknown name must be an error instead."""
        import espeakng_loader

        data = Path(espeakng_loader.get_data_path())
        lang, _, variant = voice.partition("+")
        if not (data / f"{lang}_dict").is_file() or (variant and not (data / "voices" / "!v" / variant).is_file()):
            raise ValueError(
                f"eSpeak NG has no voice '{voice}' (language dictionary {lang}_dict, variant "
                f"'{variant or '-'}' in {data})"
            )

    def synth(self, text: str, voice: str, prosody: Prosody = Prosody()) -> np.ndarray:
        """Synthesise `text` with `voice` (e.g. `en+f3`, `cmn`, `de+m2`) as float32 in [-1, 1].

        eSpeak NG keeps state across calls (not reset by espeak_Terminate), so the same call
        sequence gives the same audio only from a fresh process: demo corpora are built in one.
        """
        self.check_voice(voice)
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice '{voice}'")
            values = tuple(
                round(v) for v in (prosody.rate, prosody.volume, prosody.pitch, prosody.range, prosody.wordgap)
            )
            for param, value in zip((RATE, VOLUME, PITCH, RANGE, WORDGAP), values):
                self.lib.espeak_SetParameter(param, value, 0)
            seed = utterance_seed(text, voice, values)
            self.lib.espeak_ng_SetRandSeed(seed)
            self._libc.srand(seed)
            self._chunks = []
            buf = text.encode("utf-8") + b"\0"
            err = self.lib.espeak_Synth(
                ctypes.c_char_p(buf), len(buf), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None
            )
            if err != 0:
                raise RuntimeError(f"espeak_Synth failed with code {err}")
            self.lib.espeak_Synchronize()
            pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return pcm.astype(np.float32) / 32768.0
