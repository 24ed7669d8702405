"""Demo models: real Hugging Face classes, saved with save_pretrained, loaded with from_pretrained."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor, AutoModel

from xlser.demo.models import build_demo_model
from xlser.models import ModelLoadError, load_encoder

SPEC = {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 64, "seed": 1}


@pytest.mark.parametrize("kind,cls", [("wav2vec2", "Wav2Vec2Model"), ("wavlm", "WavLMModel")])
def test_demo_model_round_trip(tmp_path, kind, cls):
    path = build_demo_model(tmp_path / kind, {**SPEC, "type": kind})
    model = AutoModel.from_pretrained(path).eval()
    fe = AutoFeatureExtractor.from_pretrained(path)
    assert type(model).__name__ == cls and fe.sampling_rate == 16000 and fe.return_attention_mask
    x = fe([np.random.default_rng(0).normal(size=16000).astype(np.float32)], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        out = model(x.input_values, attention_mask=x.attention_mask, output_hidden_states=True)
    assert len(out.hidden_states) == SPEC["num_hidden_layers"] + 1
    assert out.hidden_states[-1].shape == (1, 48, 32)  # 20 ms frames, as the real checkpoints
    again = build_demo_model(tmp_path / "again", {**SPEC, "type": kind})
    assert (again / "model.safetensors").read_bytes() == (path / "model.safetensors").read_bytes()  # seeded


def test_unknown_model_id_names_the_id(tmp_path):
    with pytest.raises(ModelLoadError, match=r"(?s)cannot load speech encoder .no-such-org/no-such-model.*must be on disk"):
        load_encoder("no-such-org/no-such-model")
