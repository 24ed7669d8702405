"""peft.clip_normalised_waveform: the fine-tuning (and Table III scoring) input is the normalised
waveform clipped to +-1, as the study's data path stored it as 16-bit PCM; exactly the samples
beyond +-1 change, and the layer-wise path stays unclipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from tiny_encoders import feature_extractor, tiny_model, wav
from xlser.config import validate_config
from xlser.layerwise.features import encode_batch
from xlser.models.encoder import prepare
from xlser.peft.data import Collator, Partition
from xlser.peft.settings import job_settings


def normalised(w: np.ndarray) -> np.ndarray:
    """Wav2Vec2FeatureExtractor's do_normalize, by hand: zero mean, unit variance (eps 1e-7)."""
    w = w.astype(np.float64)
    return (w - w.mean()) / np.sqrt(w.var() + 1e-7)


def test_clipping_changes_exactly_the_samples_beyond_one():
    fe = feature_extractor("wav2vec2-group")
    wavs = [wav(0.7, seed=1), wav(0.4, seed=2) * np.linspace(0.1, 2.0, 6400, dtype=np.float32)]
    plain, n_plain = prepare(fe, wavs)
    clipped, n_clipped = prepare(fe, wavs, clip_normalised=True)
    assert torch.equal(n_plain, n_clipped)
    for i, w in enumerate(wavs):
        ref = normalised(w)
        x, c = plain[i, : len(w)].numpy(), clipped[i, : len(w)].numpy()
        np.testing.assert_allclose(x, ref, atol=1e-4)  # unclipped: the normalised waveform
        beyond = np.abs(x) > 1.0
        assert 0.2 < beyond.mean() < 0.5  # Gaussian noise: ~32 % of samples beyond one standard deviation
        changed = c != x
        np.testing.assert_array_equal(changed, beyond)  # exactly the samples beyond +-1 change ...
        np.testing.assert_array_equal(c[beyond], np.sign(x[beyond]))  # ... to +-1
        np.testing.assert_array_equal(c[~beyond], x[~beyond])  # every other sample is as it was
        assert (clipped[i, len(w) :] == 0).all()  # padding stays zero
    # the collator (fine-tuning: train, validation, test and the listening stimuli) clips when asked
    table = pd.DataFrame(
        {"utt_id": ["u0", "u1"], "path": ["m0", "m1"], "duration_s": [0.7, 0.4], "emotion": "neutral", "label": 0}
    )
    part = Partition(name="p:train", table=table, cache={"m0": wavs[0], "m1": wavs[1]})
    assert torch.equal(Collator(fe, clip_normalised=True)(part, [0, 1])["input_values"], clipped)
    assert torch.equal(Collator(fe)(part, [0, 1])["input_values"], plain)


def test_the_layerwise_path_stays_unclipped():
    fe, model = feature_extractor("wav2vec2-group"), tiny_model("wav2vec2-group").eval()
    w = [wav(0.5, seed=3)]
    plain, lengths = prepare(fe, w)
    clipped, _ = prepare(fe, w, clip_normalised=True)
    from xlser.models import encoder

    with torch.no_grad():
        got = encode_batch(model, fe, w, torch.device("cpu"))
        ref = encoder.pooled(model, plain, lengths, all_layers=True)
        other = encoder.pooled(model, clipped, lengths, all_layers=True)
    torch.testing.assert_close(got, ref)
    assert not torch.allclose(got, other)  # clipping would have changed the features


def test_the_key_reaches_the_job_settings():
    """Off by the schema's default (the demo config); on in the study's config/paper.yaml."""
    root = Path(__file__).resolve().parents[2]
    for name, expected in (("config.yaml", False), ("paper.yaml", True)):
        cfg = yaml.safe_load((root / "config" / name).read_text())
        validate_config(cfg)  # applies the schema's defaults
        ft, _, _ = job_settings(cfg["peft"], strategy="lora", train="A", test="A", cross_val_on="source", threads=1)
        assert ft.clip_normalised_waveform is expected, name
