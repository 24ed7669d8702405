"""What layer L (the top one) means: transformers 5 takes it before a stable-layer-norm model's
final LayerNorm, transformers 4 after; `top_layer_norm` picks transformers 4's numbering.
Checked against the model's own `encoder.layer_norm` applied to its top block's output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_encoders import feature_extractor, save_tiny, tiny_model, wav
from xlser.layerwise.features import encode_batch, extract_features
from xlser.models import encoder


def by_hand(model, fe, w):
    """(layers+1, D): the model's hidden states of one utterance, pooled; and the top block's
    output after the model's own final LayerNorm, pooled."""
    x = torch.from_numpy(fe(w, sampling_rate=16000, return_tensors="np")["input_values"][0])[None]
    with torch.no_grad():
        out = model(x, output_hidden_states=True)
        raw = torch.stack(out.hidden_states)[:, 0].mean(-2)
        normed = model.encoder.layer_norm(out.hidden_states[-1])[0].mean(-2)
    return raw, normed


@pytest.mark.parametrize("kind", ["wav2vec2-layer", "wavlm-layer"])
def test_stable_layer_norm_top_layer_before_and_after_the_final_norm(kind):
    model, fe = tiny_model(kind), feature_extractor(kind)
    assert model.config.do_stable_layer_norm
    wavs = [wav(0.7, 1), wav(1.1, 2)]
    before = encode_batch(model, fe, wavs, torch.device("cpu"))
    after = encode_batch(model, fe, wavs, torch.device("cpu"), top_layer_norm=True)
    for i, w in enumerate(wavs):
        raw, normed = by_hand(model, fe, w)
        torch.testing.assert_close(before[i], raw, atol=1e-5, rtol=1e-4)  # every layer as transformers 5 gives it
        torch.testing.assert_close(after[i, :-1], raw[:-1], atol=1e-5, rtol=1e-4)  # lower layers untouched
        torch.testing.assert_close(after[i, -1], normed, atol=1e-5, rtol=1e-4)  # the model's own final norm
        # and the two numberings do differ at the top
        assert (after[i, -1] - before[i, -1]).norm() > 0.1 * before[i, -1].norm()


def test_group_norm_models_have_one_numbering():
    model, fe = tiny_model("wav2vec2-group"), feature_extractor("wav2vec2-group")
    wavs = [wav(0.7, 3), wav(0.9, 4)]
    a = encode_batch(model, fe, wavs, torch.device("cpu"))
    b = encode_batch(model, fe, wavs, torch.device("cpu"), top_layer_norm=True)
    torch.testing.assert_close(a, b)


def test_the_option_reaches_extraction_also_one_by_one(tmp_path):
    # the unbatched path (one utterance per pass) applies it too
    model, fe = tiny_model("wav2vec2-layer"), feature_extractor("wav2vec2-layer")
    values, lengths = encoder.prepare(fe, [wav(0.6, 5), wav(0.8, 6)])
    with torch.no_grad():
        one = encoder.pooled(model, values, lengths, mode="unbatched", top_layer_norm=True)
        batched = encoder.pooled(model, values, lengths, top_layer_norm=True)
    torch.testing.assert_close(one, batched, atol=1e-5, rtol=1e-4)
    _, normed = by_hand(model, fe, wav(0.6, 5))
    torch.testing.assert_close(one[0, -1], normed, atol=1e-5, rtol=1e-4)


def test_extract_features_passes_the_option(tmp_path):
    import pandas as pd
    import soundfile as sf

    src = save_tiny(tmp_path / "m", "wav2vec2-layer")
    w = wav(0.8, 7)
    sf.write(tmp_path / "a.wav", w, 16000, subtype="FLOAT")
    manifest = pd.DataFrame({"utt_id": ["a"], "path": [str(tmp_path / "a.wav")], "duration_s": [0.8]})
    _, x0, _ = extract_features(manifest, src, "cpu", precision="fp32")
    _, x1, _ = extract_features(manifest, src, "cpu", precision="fp32", top_layer_norm=True)
    _, normed = by_hand(tiny_model("wav2vec2-layer"), feature_extractor("wav2vec2-layer"), w)
    np.testing.assert_allclose(x1[0, -1], normed.numpy(), atol=2e-2, rtol=1e-2)  # stored as float16
    np.testing.assert_array_equal(x0[0, :-1], x1[0, :-1])
    assert np.abs(x0[0, -1] - x1[0, -1]).max() > 0.1
