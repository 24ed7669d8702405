"""The SED probe's training targets and its feature statistics, pinned by hand: which frames
of a neutral-emotional-neutral concatenation are labelled emotional (frame centres inside
the emotional part), the per-utterance standardisation of the encoder's frames (over time,
per dimension: never per frame), and the head's input statistics (per feature over every
training frame)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from xlser.config import Optim
from xlser.data.manifest import write_manifest
from xlser.sed import backends
from xlser.sed.backends import FrameEncoder, ProbeDiarizer, _concat_example, standardise

SR = 16000


class Frames:
    """A stand-in encoder: one frame per 320 samples (after the first 400), values from a seed."""

    def __init__(self, dim: int = 3, offsets: tuple[float, ...] = (0.0, 10.0, -5.0)):
        self.dim, self.offsets = dim, np.asarray(offsets, dtype=np.float32)
        self.rng = np.random.default_rng(0)

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        t = (len(wav) - 400) // 320 + 1
        return (self.offsets + self.rng.normal(0, 1, (t, self.dim))).astype(np.float32)


def wav_file(path, seconds: float) -> str:
    sf.write(path, np.full(round(seconds * SR), 0.1, np.float32), SR)
    return str(path)


def test_concatenation_labels_frames_whose_centre_is_in_the_emotional_part(tmp_path):
    paths = (
        wav_file(tmp_path / "n1.wav", 0.305),
        wav_file(tmp_path / "e.wav", 0.5),
        wav_file(tmp_path / "n2.wav", 0.2),
    )
    x, y = _concat_example(Frames(), paths, gap_s=0.0, stride=0.02, rng=np.random.default_rng(0), label=2)
    # 1.005 s = 16080 samples -> 50 frames; the emotion spans [0.305, 0.805) s; frame i's centre is
    # (i + 0.5) * 0.02 s: frames 15 (0.31 s) .. 39 (0.79 s) are emotional; 14 (0.29 s) and 40 (0.81 s) not
    assert len(x) == len(y) == 50
    assert y.tolist() == [0] * 15 + [2] * 25 + [0] * 10


def test_concatenation_with_gaps_labels_by_the_audio_positions(tmp_path):
    paths = (wav_file(tmp_path / "n1.wav", 0.4), wav_file(tmp_path / "e.wav", 0.3), wav_file(tmp_path / "n2.wav", 0.4))
    rng = np.random.default_rng(7)
    gaps = [int(np.random.default_rng(7).uniform(0, 0.2) * SR)]  # the first gap drawn from the same generator
    _x, y = _concat_example(Frames(), paths, gap_s=0.2, stride=0.02, rng=rng, label=1)
    start = (0.4 * SR + gaps[0]) / SR
    centres = (np.arange(len(y)) + 0.5) * 0.02
    assert y.tolist() == [int(start <= c < start + 0.3) for c in centres]
    assert y.sum() == 15  # 0.3 s of emotion = 15 frame centres


def test_standardise_is_per_dimension_over_time_by_hand():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 16.0]])
    z = standardise(x)
    # column 0: mean 3, std sqrt(8/3); column 1: mean 12, std sqrt(24/3) = sqrt(8)
    np.testing.assert_allclose(z[:, 0], (x[:, 0] - 3) / (np.sqrt(8 / 3) + 1e-5))
    np.testing.assert_allclose(z[:, 1], (x[:, 1] - 12) / (np.sqrt(8) + 1e-5))
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    assert not np.allclose(z.mean(1), 0)  # not per frame


def test_frame_encoder_standardises_each_utterance_over_time(tmp_path):
    from tiny_encoders import save_tiny, tiny_model

    src = save_tiny(tmp_path / "m", "wav2vec2-layer")
    enc = FrameEncoder(src, 1, torch.device("cpu"))
    rng = np.random.default_rng(0)
    wavs = [rng.normal(0, 0.1, 9000).astype(np.float32), rng.normal(0, 0.3, 14000).astype(np.float32)]
    out = enc.batch(wavs)
    model = tiny_model("wav2vec2-layer")
    for w, z in zip(wavs, out):
        x = torch.from_numpy(enc.fe(w, sampling_rate=SR, return_tensors="np")["input_values"][0])[None]
        with torch.no_grad():
            h = model(x, output_hidden_states=True).hidden_states[1][0].numpy()
        assert z.shape == h.shape
        np.testing.assert_allclose(z, (h - h.mean(0)) / (h.std(0) + 1e-5), atol=2e-4)
        np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(z.std(0), 1, atol=1e-3)


def test_probe_head_input_statistics_are_per_feature_over_training_frames(tmp_path, monkeypatch):
    rows = []
    for emo in ("neutral", "angry"):
        for k in range(6):
            p = wav_file(tmp_path / f"{emo}{k}.wav", 0.3 + 0.02 * k)
            rows.append(
                {
                    "utt_id": f"C_{emo}{k}",
                    "corpus": "C",
                    "lang": "EN",
                    "speaker": "s",
                    "emotion": emo,
                    "path": p,
                    "duration_s": 0.3 + 0.02 * k,
                    "sample_rate": SR,
                }
            )
    write_manifest(pd.DataFrame(rows), tmp_path / "manifest.csv")
    fake = Frames()
    monkeypatch.setattr(backends, "FrameEncoder", lambda *a, **k: fake)
    probe = Optim(lr=1e-2, eps=1e-8, weight_decay=0.0, batch_size=4, max_epochs=3, patience=3, seed=0)
    p = ProbeDiarizer("unused", 1, [tmp_path / "manifest.csv"], ["angry"], probe, torch.device("cpu"), context_s=(0.1,))
    # features: the frame (3 dims) + the mean and std of a 5-frame window around it (3 + 3)
    assert p.mu.shape == p.sd.shape == (9,)
    np.testing.assert_allclose(p.mu[:3].numpy(), fake.offsets, atol=0.15)  # the per-dimension offsets
    np.testing.assert_allclose(p.mu[3:6].numpy(), fake.offsets, atol=0.15)  # window means: the same
    np.testing.assert_allclose(p.sd[:3].numpy(), 1.0, atol=0.15)  # the unit noise
    assert p.train_info["frames"] > 300
