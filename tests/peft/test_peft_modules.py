"""PEFT modules: the cut, parameter counts by equation, frozen weights untouched, identity at init."""

from __future__ import annotations

import copy

import pytest
import torch
import transformers as T

from xlser.peft.modules import (
    Adapter,
    BottleneckAdapter,
    Lora,
    PeftSER,
    build_model,
    count_params,
    cut_encoder,
    layers_to_keep,
)

torch.set_num_threads(1)
D, FF, N_LAYERS, N_CLASSES = 32, 64, 3, 4
SMALL = {
    "hidden_size": D,
    "num_hidden_layers": N_LAYERS,
    "num_attention_heads": 2,
    "intermediate_size": FF,
    "conv_dim": (32, 32),
    "conv_kernel": (10, 3),
    "conv_stride": (5, 2),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}


def make(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "w2v2-postln":
        return T.Wav2Vec2Model(T.Wav2Vec2Config(**SMALL, do_stable_layer_norm=False, feat_extract_norm="group")).eval()
    if kind == "w2v2-stableln":
        return T.Wav2Vec2Model(T.Wav2Vec2Config(**SMALL, do_stable_layer_norm=True, feat_extract_norm="layer")).eval()
    if kind == "wavlm":
        return T.WavLMModel(T.WavLMConfig(**SMALL, num_buckets=32, max_bucket_distance=100)).eval()
    if kind == "hubert":
        return T.HubertModel(T.HubertConfig(**SMALL)).eval()
    raise ValueError(kind)


KINDS = ["w2v2-postln", "w2v2-stableln", "wavlm", "hubert"]


def batch():
    torch.manual_seed(1)
    x = torch.randn(2, 6400)
    mask = torch.ones(2, 6400, dtype=torch.long)
    mask[1, 4000:] = 0
    x[1, 4000:] = 0
    return x, mask


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", range(N_LAYERS + 1))
def test_cut_at_k_gives_hidden_state_k(kind, k):
    full = make(kind)
    x, mask = batch()
    with torch.no_grad():
        ref = full(x, attention_mask=mask, output_hidden_states=True).hidden_states[k]
        cut = cut_encoder(copy.deepcopy(full), k)
        out = cut(x, attention_mask=mask).last_hidden_state
    assert len(cut.encoder.layers) == k
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)


def test_cut_rejects_a_layer_beyond_the_model():
    with pytest.raises(ValueError, match="cannot cut at layer 4: the encoder has 3"):
        cut_encoder(make("w2v2-stableln"), 4)


def expected_trainable(strategy: str, k: int, r: int = 8, reduction: int = 16) -> int:
    """The equations: LoRA r*(d_in+d_out) per adapted Linear, adapter 2*d*(d/16) + d/16 + d,
    gate d, linear head d*n + n."""
    head = D * N_CLASSES + N_CLASSES
    lora_per_layer = 4 * r * (D + D) + r * (D + FF) + r * (FF + D)  # q, k, v, out; intermediate; output
    b = D // reduction
    adapter = 2 * D * b + b + D
    gate = D
    if strategy == "frozen":
        return head
    if strategy == "lora":
        return head + k * lora_per_layer
    return head + k * (lora_per_layer + adapter + gate)


@pytest.mark.parametrize("strategy", ["frozen", "lora", "lora+ba+wg", "two_stage"])
@pytest.mark.parametrize("k", [0, 2])
def test_trainable_parameters_match_the_equations(strategy, k):
    full = make("w2v2-stableln")
    if k == 0 and strategy != "frozen":  # no layer kept: nothing to adapt, never a silent `frozen`
        with pytest.raises(ValueError, match="nothing to adapt"):
            build_model(full, k, strategy, N_CLASSES, "linear", Lora(8, 16, 0.1), Adapter(16))
        return
    kept_encoder = sum(p.numel() for p in cut_encoder(copy.deepcopy(full), k).parameters())
    model = build_model(full, k, strategy, N_CLASSES, "linear", Lora(8, 16, 0.1), Adapter(16))
    trainable, total = count_params(model)
    assert trainable == expected_trainable(strategy, k)
    assert total == kept_encoder + trainable
    # with k=2, d=32: LoRA 2*(4*8*64 + 8*96*2) = 7168; adapter 2*(2*32*2 + 2 + 32) = 324; gates 64; head 132
    if k == 2:
        assert trainable == {"frozen": 132, "lora": 7300, "lora+ba+wg": 7688, "two_stage": 7688}[strategy]


def _train_step(model: PeftSER) -> None:
    x, mask = batch()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(x, torch.tensor([6400, 4000]), mask), torch.tensor([0, 1]))
    loss.backward()
    opt.step()


@pytest.mark.parametrize("kind", ["w2v2-stableln", "w2v2-postln", "wavlm"])
@pytest.mark.parametrize("strategy", ["lora", "lora+ba+wg"])
def test_training_leaves_frozen_weights_bit_identical(kind, strategy):
    model = build_model(make(kind), 2, strategy, N_CLASSES, "linear", Lora(4, 8, 0.1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _train_step(model)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and not (changed & frozen)
    assert any("lora_B" in n for n in changed) and any(n.startswith("head.") for n in changed)
    for proj in ("q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense"):
        assert any(f"{proj}.lora_B" in n for n in changed), proj  # gradients reach every adapted projection
    if strategy == "lora+ba+wg":
        assert any("input_gate" in n for n in changed) and any("bottleneck_adapter" in n for n in changed)


@pytest.mark.parametrize("kind", KINDS)
def test_lora_ba_wg_at_identity_computes_the_frozen_encoder(kind):
    full = make(kind)
    x, mask = batch()
    with torch.no_grad():
        # frozen like the PEFT model's encoder (WavLM's attention kernel choice depends on requires_grad)
        ref = cut_encoder(copy.deepcopy(full), 2).requires_grad_(False)(x, attention_mask=mask).last_hidden_state
        model = build_model(full, 2, "lora+ba+wg", N_CLASSES).eval()
        for name, p in model.named_parameters():
            if "bottleneck_adapter.up" in name:
                p.zero_()
            if "input_gate" in name:
                p.fill_(1e4)  # sigmoid(g) == 1.0 in float32
        # LoRA's own initialisation: B = 0
        assert all(p.abs().sum() == 0 for n, p in model.named_parameters() if "lora_B" in n)
        out = model.encoder(x, attention_mask=mask).last_hidden_state
        assert torch.equal(out, ref)
        # and the default initialisation (g = 1, random up-projection) does change it
        fresh = build_model(make(kind), 2, "lora+ba+wg", N_CLASSES).eval()
        assert not torch.allclose(fresh.encoder(x, attention_mask=mask).last_hidden_state, ref)


def test_gate_scales_the_layer_input_and_the_residual():
    """A zero gate (g = -inf) feeds zeros into layer 1: its output is then the same for any input."""
    model = build_model(make("w2v2-stableln"), 1, "lora+ba+wg", N_CLASSES).eval()
    with torch.no_grad():
        model.encoder.encoder.layers[0].input_gate.g.fill_(-1e4)
        x1, _ = batch()
        a = model.encoder(x1).last_hidden_state
        b = model.encoder(torch.randn_like(x1)).last_hidden_state
    torch.testing.assert_close(a[0, 0], b[0, 0])


def test_adapter_is_residual_on_the_feed_forward_output():
    ad = BottleneckAdapter(32, 16)
    f = torch.randn(3, 5, 32)
    with torch.no_grad():
        expected = f + ad.up(torch.relu(ad.down(f)))
    assert ad.down.out_features == 2 and torch.equal(ad(f), expected)


def test_pooling_ignores_padding_and_encoder_dropout_stays_off():
    model = build_model(make("w2v2-stableln"), 2, "lora", N_CLASSES, "linear", Lora(4, 8, 0.5))
    model.eval()
    x, mask = batch()
    with torch.no_grad():
        alone = model.pooled(x[1:, :4000], torch.tensor([4000]), mask[1:, :4000])
        padded = model.pooled(x, torch.tensor([6400, 4000]), mask)[1:]
    torch.testing.assert_close(alone, padded, rtol=1e-4, atol=1e-5)
    model.train()
    assert not model.encoder.encoder.dropout.training  # the frozen encoder's own dropout
    assert any(m.training for n, m in model.named_modules() if "lora_dropout" in n)


@pytest.mark.parametrize("kind", ["wavlm", "w2v2-stableln"])
def test_lora_update_acts_on_the_attention_projections(kind):
    """B @ A * alpha/r on q_proj changes the output exactly as the merged weight does (WavLM reads
    the weights directly, so this is where a bypassed LoRA would show)."""
    full = make(kind)
    x, mask = batch()
    model = build_model(copy.deepcopy(full), 1, "lora", N_CLASSES, "linear", Lora(4, 8, 0.0))
    merged = cut_encoder(copy.deepcopy(full), 1).requires_grad_(False)
    q = model.encoder.encoder.layers[0].attention.q_proj
    with torch.no_grad():
        torch.nn.init.normal_(q.lora_B["default"].weight, std=0.5)
        delta = q.lora_B["default"].weight @ q.lora_A["default"].weight * 2.0  # alpha / r = 8 / 4
        merged.encoder.layers[0].attention.q_proj.weight += delta
        out = model.encoder.eval()(x, attention_mask=mask).last_hidden_state
        ref = merged(x, attention_mask=mask).last_hidden_state
        base = cut_encoder(copy.deepcopy(full), 1).requires_grad_(False)(x, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    assert (out - base).abs().max() > 1e-3


def test_feature_cache_returns_what_the_cnn_computes_and_skips_it_on_reuse():
    model = build_model(make("w2v2-stableln"), 2, "lora+ba+wg", N_CLASSES).eval()
    x, mask = batch()
    lengths = torch.tensor([6400, 4000])
    with torch.no_grad():
        plain = model(x, lengths, mask)
        model.cache_features()
        calls = []
        model.features.inner.register_forward_hook(lambda *a: calls.append(1))
        model.features.keys = [("p", 0), ("p", 1)]
        first = model(x, lengths, mask)
        again = model(torch.zeros_like(x), lengths, mask)  # same key: the cached CNN output is used
        model.features.keys = None
        uncached = model(torch.zeros_like(x), lengths, mask)
    assert torch.equal(plain, first) and torch.equal(first, again) and len(calls) == 2
    assert not torch.allclose(uncached, first)


def test_layers_kept_k_plus_1_keeps_one_more_layer_and_puts_the_peft_modules_on_it():
    assert [layers_to_keep(k, "k", N_LAYERS) for k in range(N_LAYERS + 1)] == [0, 1, 2, 3]
    assert [layers_to_keep(k, "k+1", N_LAYERS) for k in range(N_LAYERS + 1)] == [1, 2, 3, 3]  # nothing above the top
    with pytest.raises(ValueError, match="layers_kept"):
        layers_to_keep(1, "k+2", N_LAYERS)
    x, mask = batch()
    k = 1
    for rule, n in (("k", 1), ("k+1", 2)):
        model = build_model(
            make("w2v2-stableln"),
            layers_to_keep(k, rule, N_LAYERS),
            "lora+ba+wg",
            N_CLASSES,
            "linear",
            Lora(2, 4, 0.0),
            Adapter(16),
        ).eval()
        layers = model.encoder.encoder.layers
        assert len(layers) == n
        top = layers[n - 1]  # k+1: layer k (0-based) is kept and adapted
        assert hasattr(top.attention.q_proj, "lora_A") and hasattr(top.feed_forward.output_dense, "lora_A")
        assert hasattr(top, "bottleneck_adapter") and hasattr(top, "input_gate")
        trainable = count_params(model)[0]
        assert trainable == expected_trainable("lora+ba+wg", n, r=2)
    # k+1's output (LoRA B = 0, adapters zeroed, gates open) is hidden state k+1 of the full model
    with torch.no_grad():
        ref = make("w2v2-stableln")(x, attention_mask=mask, output_hidden_states=True).hidden_states[k + 1]
        for name, p in model.named_parameters():
            if "bottleneck_adapter.up" in name:
                p.zero_()
            if "input_gate" in name:
                p.fill_(1e4)
        torch.testing.assert_close(model.encoder(x, attention_mask=mask).last_hidden_state, ref, rtol=0, atol=1e-5)


def test_encoder_mode_train_runs_the_checkpoints_dropout_and_eval_mode_does_not():
    x, mask = batch()
    lengths = torch.tensor([6400, 4000])
    # a checkpoint config with dropout, LayerDrop and time masking (the tiny model's: 0.1, 0.1, 0.05)
    for mode, stochastic in (("eval", False), ("train", True)):
        model = build_model(make("w2v2-stableln"), 2, "lora", N_CLASSES, "linear", Lora(2, 4, 0.0), None, mode)
        model.train()
        assert model.encoder.encoder.dropout.training is stochastic
        assert model.head.training
        with torch.no_grad():
            torch.manual_seed(0)
            a = model(x, lengths, mask)
            b = model(x, lengths, mask)
        assert (not torch.equal(a, b)) is stochastic, mode
        model.eval()  # predictions are deterministic in either mode
        assert not model.encoder.training
        with torch.no_grad():
            assert torch.equal(model(x, lengths, mask), model(x, lengths, mask))
    with pytest.raises(ValueError, match="encoder_mode"):
        build_model(make("w2v2-stableln"), 1, "frozen", N_CLASSES, encoder_mode="training")
