"""Batches: redrawn every epoch within length buckets; fine-tuned models exact in any batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tiny_encoders import EXACT, alone, feature_extractor, tiny_model, wav
from xlser.layerwise.features import encode_batch
from xlser.models.batching import length_buckets
from xlser.peft.data import Collator, Partition
from xlser.peft.modules import build_model

DURS = np.random.default_rng(0).uniform(1, 6, size=300)


def pairs(plan):
    return {(min(i, j), max(i, j)) for b in plan for i in b for j in b if i < j}


def test_training_batches_are_redrawn_each_epoch_and_reproducible():
    plans = [length_buckets(DURS, 40.0, max_items=16, shuffle_seed=s) for s in (11, 12)]
    for plan in plans:
        assert sorted(i for b in plan for i in b) == list(range(len(DURS)))
        assert all(len(b) == 1 or (max(DURS[b]) * len(b) <= 40.0 and len(b) <= 16) for b in plan)
        assert sum(max(DURS[b]) * len(b) for b in plan) / DURS.sum() < 1.15  # still length-bucketed
    assert len(pairs(plans[0]) & pairs(plans[1])) < 0.5 * len(pairs(plans[0]))  # other neighbours
    assert length_buckets(DURS, 40.0, max_items=16, shuffle_seed=11) == plans[0]  # a function of the seed
    assert length_buckets(DURS, 40.0, max_items=16) == length_buckets(DURS, 40.0, max_items=16)


def utterances(n=5):
    return [wav(0.4 + 0.35 * i, 20 + i) for i in range(n)]


def part_of(wavs):
    table = pd.DataFrame(
        {
            "utt_id": [f"u{i}" for i in range(len(wavs))],
            "path": [f"mem{i}" for i in range(len(wavs))],
            "duration_s": [len(w) / 16000 for w in wavs],
            "emotion": "neutral",
            "label": 0,
        }
    )
    return Partition(name="p:test", table=table, cache={f"mem{i}": w for i, w in enumerate(wavs)})


def perturbed(model):
    """LoRA B, adapters and gates away from their identity initialisation, so they matter."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _name, p in model.named_parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


@pytest.mark.parametrize("kind", EXACT)
@pytest.mark.parametrize("cache", [False, True])
def test_fine_tuned_logits_are_the_same_alone_and_in_any_batch(kind, cache):
    model = perturbed(build_model(tiny_model(kind), 2, "lora+ba+wg", 4)).eval()
    if cache:
        model.cache_features()
    fe = feature_extractor(kind)
    part, collate = part_of(utterances()), Collator(fe)

    def logits(idx):
        if model.features is not None:
            model.features.keys = part.keys(idx)
        b = collate(part, idx)
        with torch.no_grad():
            return model(b["input_values"], b["lengths"], b["attention_mask"])

    ref = torch.cat([logits([i]) for i in range(5)])
    for idx in ([0, 1, 2, 3, 4], [4, 0, 2], [3, 1]):
        out = logits(idx)
        assert float((out - ref[idx]).abs().max() / ref.abs().max()) <= 1e-5, idx


@pytest.mark.parametrize("kind", ["wav2vec2-group", "wav2vec2-layer", "wavlm-group"])
@pytest.mark.parametrize("k", [0, 1])
def test_frozen_at_layer_k_gives_the_layerwise_features_of_layer_k(kind, k):
    wavs = utterances(4)
    full, fe = tiny_model(kind), feature_extractor(kind)
    layerwise = encode_batch(full, fe, wavs, torch.device("cpu"))[:, k]
    model = build_model(tiny_model(kind), k, "frozen", 4).eval()
    b = Collator(fe)(part_of(wavs), [0, 1, 2, 3])
    with torch.no_grad():
        pooled = model.pooled(b["input_values"], b["lengths"])
    torch.testing.assert_close(pooled, layerwise, rtol=1e-5, atol=1e-5 * float(layerwise.abs().max()))
    ref = torch.stack([alone(full, fe, w)[k] for w in wavs])
    torch.testing.assert_close(pooled, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_the_exactness_check_leaves_training_modes_as_they_were():
    """The one-off self-check runs in eval mode; LoRA dropout must still train afterwards."""
    model = build_model(tiny_model("wav2vec2-group"), 2, "lora", 4).train()
    before = {n: m.training for n, m in model.named_modules()}
    assert any(t for n, t in before.items() if "lora_dropout" in n)
    b = Collator(feature_extractor("wav2vec2-group"))(part_of(utterances(2)), [0, 1])
    model(b["input_values"], b["lengths"])
    assert {n: m.training for n, m in model.named_modules()} == before
