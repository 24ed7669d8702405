"""Feature extraction: every utterance gets its numbers alone, in any batch, for every encoder class."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from tiny_encoders import EXACT, alone, feature_extractor, save_tiny, tiny_model, wav
from xlser.layerwise.features import encode_batch, extract_features, load_features, masked_mean, save_features
from xlser.models import encoder
from xlser.models.loading import ModelLoadError, load_encoder

CPU = torch.device("cpu")
DURATIONS = [0.7, 1.9, 0.45, 1.3]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("kind", EXACT)
def test_pooled_features_are_the_same_alone_and_in_any_batch(kind):
    model, fe = tiny_model(kind), feature_extractor(kind)
    wavs = [wav(d, i) for i, d in enumerate(DURATIONS)]
    ref = torch.stack([alone(model, fe, w) for w in wavs])
    assert encoder.batch_mode(model) == "batched"
    for batch in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 1], [0]):
        out = encode_batch(model, fe, [wavs[i] for i in batch], CPU)
        assert out.shape == (len(batch), 3, 32)
        assert rel(out, ref[batch]) <= 1e-5, (kind, batch)


@pytest.mark.parametrize("kind", ["wav2vec2-group", "wavlm-group"])
def test_plain_padding_would_change_them(kind):
    """Why the exact path exists: the feature extractor padding a group-norm batch (no mask)
    gives the short utterance other numbers."""
    model, fe = tiny_model(kind), feature_extractor(kind)
    short, long = wav(0.5, 1), wav(1.9, 2)
    x = fe([short, long], sampling_rate=16000, padding=True, return_tensors="pt")["input_values"]
    with torch.no_grad():
        padded = torch.stack(model(x, output_hidden_states=True).hidden_states)[:, 0, :24].mean(-2)
    assert rel(padded, alone(model, fe, short)) > 1e-2


@pytest.mark.parametrize("kind", ["wav2vec2-group", "hubert-group", "wavlm-group"])
def test_a_group_norm_batch_is_one_encoder_pass(kind):
    model, fe = tiny_model(kind), feature_extractor(kind)
    encoder.batch_mode(model)  # the one-off self-check runs its own passes
    calls = {"cnn": 0, "transformer": 0}
    model.encoder.register_forward_hook(lambda *a: calls.__setitem__("transformer", calls["transformer"] + 1))
    for layer in model.feature_extractor.conv_layers[:1]:
        layer.conv.register_forward_hook(lambda *a: calls.__setitem__("cnn", calls["cnn"] + 1))
    encode_batch(model, fe, [wav(0.3 + 0.2 * i, i) for i in range(8)], CPU)
    assert calls == {"cnn": 1, "transformer": 1}


def test_data2vec_runs_one_by_one_and_says_so(caplog):
    model, fe = tiny_model("data2vec-audio"), feature_extractor("data2vec-audio")
    with caplog.at_level(logging.INFO, logger="xlser.models.encoder"):
        assert encoder.batch_mode(model) == "unbatched"
    assert "NOT exact" in caplog.text
    # the self-check would catch it even without the list: padding leaks into valid frames
    assert encoder.deviation(model, "batched") > 1e-4
    wavs = [wav(d, i) for i, d in enumerate(DURATIONS)]
    out = encode_batch(model, fe, wavs, CPU)
    assert rel(out, torch.stack([alone(model, fe, w) for w in wavs])) <= 1e-5


def test_masked_mean_by_hand():
    h = torch.arange(2 * 1 * 4 * 1, dtype=torch.float32).reshape(1, 2, 4, 1)  # (L=1, B=2, T=4, D=1)
    out = masked_mean(h, torch.tensor([2, 4]))
    assert out[:, 0, 0].tolist() == [0.5, 5.5]  # mean(0, 1) and mean(4..7)


def write_corpus(tmp_path, durations):
    rows = []
    for i, d in enumerate(durations):
        p = tmp_path / f"u{i}.wav"
        sf.write(str(p), wav(d, 10 + i), 16000, subtype="FLOAT")
        rows.append({"utt_id": f"u{i}", "path": str(p), "duration_s": d})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "kind,batching,dtype",
    [
        ("wav2vec2-group", "exact", "float16"),
        ("wav2vec2-layer", "exact", "float16"),
        ("hubert-group", "exact", "float16"),
        ("wavlm-group", "exact", "float16"),
        ("data2vec-audio", "exact", "float16"),
        ("wav2vec2-group", "auto", "float32"),
        ("wav2vec2-group", "single", "float32"),
    ],
)
def test_extract_equals_the_plain_model_one_utterance_at_a_time(tmp_path, kind, batching, dtype):
    src = save_tiny(tmp_path / "m", kind)
    man = write_corpus(tmp_path, [0.6, 1.3, 0.9, 2.0, 0.5])
    ids, X, meta = extract_features(man, src, "cpu", max_batch_seconds=6.0, batching=batching, dtype=dtype)
    assert X.dtype == np.dtype(dtype) and X.shape == (5, 3, 32) and list(ids) == [f"u{i}" for i in range(5)]
    assert meta["batch_mode"] == ("unbatched" if kind == "data2vec-audio" else "batched")
    assert meta["one_per_pass"] == (kind == "data2vec-audio" or batching != "exact")  # auto: single on CPU
    model, fe = tiny_model(kind), feature_extractor(kind)
    tol = 2e-3 if dtype == "float16" else 1e-4  # float16 storage rounds to ~1e-3 relative
    for i, d in enumerate(man["duration_s"]):
        ref = alone(model, fe, wav(d, 10 + i)).numpy()
        np.testing.assert_allclose(X[i].astype(np.float32), ref, atol=tol * np.abs(ref).max(), rtol=tol)
    save_features(tmp_path / "f.npz", ids, X, meta)
    ids2, X2, meta2 = load_features(tmp_path / "f.npz")
    assert X2.dtype == np.dtype(dtype)  # stored as extracted: float32 keeps every bit
    assert list(ids2) == list(ids) and np.array_equal(X2, X) and meta2 == {"model": src, "layers": 2}


def test_one_per_pass_auto_is_single_on_cpu_and_batched_on_cuda():
    from xlser.layerwise.features import one_per_pass

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert one_per_pass("auto", cpu, "batched") and not one_per_pass("auto", cuda, "batched")
    assert not one_per_pass("exact", cpu, "batched") and not one_per_pass("exact", cuda, "cnn_per_utterance")
    assert one_per_pass("single", cuda, "batched")
    assert one_per_pass("exact", cuda, "unbatched") and one_per_pass("auto", cuda, "unbatched")
    with pytest.raises(ValueError, match="features.batching: 'fast'"):
        one_per_pass("fast", cpu, "batched")


def test_save_features_rejects_other_dtypes(tmp_path):
    with pytest.raises(ValueError, match="float64"):
        save_features(tmp_path / "f.npz", np.array(["u0"]), np.zeros((1, 2, 3)), {"model": "m", "layers": 1})


def test_unknown_model_id_error_names_id():
    with pytest.raises(ModelLoadError, match=r"(?s)'org/not-a-model'.*must be on disk .* or reachable"):
        load_encoder("org/not-a-model")


def test_sed_frame_encoder_batches_exactly(tmp_path):
    """The SED probe's encoder goes through the same exact path: frames of a batch = frames alone."""
    from xlser.sed.backends import FrameEncoder, standardise

    src = save_tiny(tmp_path / "m", "wavlm-group")
    frames = FrameEncoder(src, 1, CPU)
    wavs = [wav(d, i) for i, d in enumerate(DURATIONS)]
    model, fe = tiny_model("wavlm-group"), feature_extractor("wavlm-group")
    for w, got in zip(wavs, frames.batch(wavs)):
        x = torch.from_numpy(fe(w, sampling_rate=16000, return_tensors="np")["input_values"][0])[None]
        with torch.no_grad():
            ref = standardise(model(x, output_hidden_states=True).hidden_states[1][0].numpy())
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-3, rtol=1e-3)
