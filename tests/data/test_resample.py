"""Resampling to 16 kHz mono float keeps frequency and duration; nothing half-written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from fixtures_corpora import tone
from xlser.data.manifest import read_manifest
from xlser.data.resample import resample_corpus
from xlser.io import write_csv


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
def test_tone_keeps_frequency_and_duration(tmp_path, sr):
    src = tone(tmp_path / f"t{sr}.wav", seconds=1.5, sr=sr, freq=440.0)
    stereo = tmp_path / f"s{sr}.wav"
    w, _ = sf.read(str(src))
    sf.write(str(stereo), np.stack([w, w], axis=1), sr)  # a stereo file must come out mono
    raw = pd.DataFrame(
        {
            "utt_id": ["a", "b"],
            "corpus": "C",
            "lang": "EN",
            "speaker": "s",
            "emotion": "sad",
            "path": [str(src), str(stereo)],
            "duration_s": 1.5,
            "sample_rate": sr,
        }
    )
    write_csv(raw, tmp_path / "raw.csv")
    resample_corpus(tmp_path / "raw.csv", tmp_path / "manifest.csv", tmp_path / "wav", 16000, workers=2)
    man = read_manifest(tmp_path / "manifest.csv")
    assert (man["sample_rate"] == 16000).all()
    for p in man["path"]:
        y, out_sr = sf.read(p)
        info = sf.info(p)
        assert out_sr == 16000 and y.ndim == 1 and info.subtype == "FLOAT"
        assert len(y) / 16000 == pytest.approx(1.5, abs=1e-3)
        spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
        peak = np.fft.rfftfreq(len(y), 1 / 16000)[spec.argmax()]
        assert peak == pytest.approx(440.0, abs=1.0)
    # manifest paths are stored relative to the manifest's folder
    assert pd.read_csv(tmp_path / "manifest.csv")["path"].tolist() == ["wav/a.wav", "wav/b.wav"]


def test_failure_leaves_no_finished_output(tmp_path):
    good = tone(tmp_path / "g.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"garbage")
    raw = pd.DataFrame(
        {
            "utt_id": ["g", "x"],
            "corpus": "C",
            "lang": "EN",
            "speaker": "s",
            "emotion": "sad",
            "path": [str(good), str(bad)],
            "duration_s": 0.5,
            "sample_rate": 16000,
        }
    )
    write_csv(raw, tmp_path / "raw.csv")
    with pytest.raises(Exception, match="bad.wav"):
        resample_corpus(tmp_path / "raw.csv", tmp_path / "out" / "manifest.csv", tmp_path / "out" / "wav", 16000)
    assert not (tmp_path / "out" / "manifest.csv").exists() and not (tmp_path / "out" / "wav").exists()
    assert not list((tmp_path / "out").glob(".*part*"))
