"""The fine-tuned model: an encoder cut at layer k, PEFT modules around its layers, a pooled head.

Adapters and gates are small modules attached to the Hugging Face layer objects with
forward hooks, so the same code serves wav2vec2 (post-LN and stable-LN), HuBERT and WavLM
layers without copying transformers' layer code. LoRA comes from `peft`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from xlser.layerwise.heads import make_head
from xlser.peft.settings import ENCODER_MODES, LAYERS_KEPT, STRATEGIES, Adapter, Lora, uses_adapters, uses_lora

log = logging.getLogger(__name__)

LORA_TARGETS = (
    "attention.q_proj",
    "attention.k_proj",
    "attention.v_proj",
    "attention.out_proj",
    "feed_forward.intermediate_dense",
    "feed_forward.output_dense",
)
STUDY_LORA = Lora(r=8, alpha=16.0, dropout=0.1)  # the study's modules (benchmarks, tests)
STUDY_ADAPTER = Adapter(reduction=16)


def layers_to_keep(k: int, rule: str, n_layers: int) -> int:
    """How many transformer layers fine-tuning keeps for best layer k (hidden-state indexing).

    `k`: output is hidden state k (what the layer-wise probe chose). `k+1`: the study's code
    (`num_hidden_layers = layer_index + 1`), one layer more, PEFT modules on layers 0..k; at
    the top of the model nothing is left to add, so it keeps all `n_layers` (logged). The
    study's code would there build one layer more than the checkpoint has, initialised at
    random (none of its runs used the top layer); xlser adds none.
    """
    if rule not in LAYERS_KEPT:
        raise ValueError(f"unknown layers_kept '{rule}': expected one of {LAYERS_KEPT}")
    n = k + 1 if rule == "k+1" else k
    if n > n_layers:
        log.warning("layers_kept=k+1 with k=%d: the encoder has only %d layers; keeping all of them", k, n_layers)
        n = n_layers
    return n


def _layers(encoder: nn.Module) -> nn.ModuleList:
    try:
        return encoder.encoder.layers
    except AttributeError:
        raise TypeError(f"{type(encoder).__name__} has no encoder.layers: not a wav2vec2/HuBERT/WavLM model") from None


def cut_encoder(encoder: nn.Module, k: int) -> nn.Module:
    """Drop the transformer layers above k, in place, so the output is hidden state k.

    Hidden state k (layer-wise indexing: 0 = transformer input) is the raw output of layer k.
    The stable-layer-norm variants apply the encoder's LayerNorm after the last layer, to
    `last_hidden_state` only (transformers 5 records hidden_states[L] before it), so it is
    removed. The post-LN variants apply it before layer 1, which hidden state 0 includes.
    """
    layers = _layers(encoder)
    n = len(layers)
    if not 0 <= k <= n:
        raise ValueError(f"cannot cut at layer {k}: the encoder has {n} transformer layers")
    enc = encoder.encoder
    stable = bool(getattr(encoder.config, "do_stable_layer_norm", False))
    if stable:
        enc.layer_norm = nn.Identity()
    enc.layers = nn.ModuleList(list(layers)[:k])
    encoder.config.num_hidden_layers = k
    return encoder


class BottleneckAdapter(nn.Module):
    """Linear(d -> d/r) -> ReLU -> Linear(d/r -> d), added to the feed-forward output f."""

    def __init__(self, dim: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, dim // reduction)
        self.down = nn.Linear(dim, hidden)
        self.up = nn.Linear(hidden, dim)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f + self.up(torch.relu(self.down(f)))


class InputGate(nn.Module):
    """h <- sigmoid(g) * h at a layer's input (g of size d, initialised to ones as in the study)."""

    def __init__(self, dim: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.g).to(h.dtype) * h


def _gate_hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    if args:
        return (module.input_gate(args[0]), *args[1:]), kwargs
    kwargs = dict(kwargs, hidden_states=module.input_gate(kwargs["hidden_states"]))
    return args, kwargs


def _adapter_hook(adapter: BottleneckAdapter):
    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        return adapter(output)

    return hook


def add_adapters_and_gates(encoder: nn.Module, reduction: int = 16) -> None:
    """Attach a bottleneck adapter (on the feed-forward output, inside the residual) and an
    input gate to every kept layer."""
    dim = encoder.config.hidden_size
    for layer in _layers(encoder):
        adapter = BottleneckAdapter(dim, reduction)
        layer.add_module("bottleneck_adapter", adapter)
        layer.feed_forward.register_forward_hook(_adapter_hook(adapter))
        layer.add_module("input_gate", InputGate(dim))
        layer.register_forward_pre_hook(_gate_hook, with_kwargs=True)


def add_lora(encoder: nn.Module, r: int = 8, alpha: float = 16, dropout: float = 0.1) -> nn.Module:
    """LoRA (peft) on the attention projections and feed-forward denses of every kept layer."""
    from peft import LoraConfig, inject_adapter_in_model

    if len(_layers(encoder)) == 0:
        return encoder
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(LORA_TARGETS), bias="none")
    encoder = inject_adapter_in_model(cfg, encoder)
    for m in encoder.modules():
        if type(m).__name__ == "WavLMAttention":
            _lora_into_weights(m)
    return encoder


class _LoraDelta(nn.Module):
    """Weight parametrisation W -> W + scaling * B @ A read from a peft LoRA layer."""

    def __init__(self, lora_layer: nn.Module):
        super().__init__()
        self._layer = [lora_layer]  # a plain reference: not a submodule (no cycle, no duplicate weights)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        layer = self._layer[0]
        delta = torch.zeros_like(weight)
        for name in layer.active_adapters:
            delta = delta + (layer.lora_B[name].weight @ layer.lora_A[name].weight) * layer.scaling[name]
        return weight + delta.to(weight.dtype)


def _lora_into_weights(attention: nn.Module) -> None:
    """WavLM's attention hands its projection *weights* to F.multi_head_attention_forward and never
    calls the projections, so peft's LoRA forward would be bypassed; parametrising the base
    weights puts the same low-rank update where it is read (LoRA dropout does not apply there)."""
    from torch.nn.utils import parametrize

    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        layer = getattr(attention, name)
        if hasattr(layer, "lora_A"):
            parametrize.register_parametrization(layer.get_base_layer(), "weight", _LoraDelta(layer))


def _is_peft_param(name: str) -> bool:
    return "lora_" in name or ".bottleneck_adapter." in name or ".input_gate." in name


class CachedFeatureEncoder(nn.Module):
    """The frozen CNN's output per utterance, kept in CPU memory (up to a cap) under a key per utterance.

    No strategy changes the CNN and it has no stochastic part (in either encoder mode), and
    `xlser.models.encoder` computes every utterance's CNN output exactly as alone, so an utterance
    has the same features in every batch, epoch, partition and fold (batches are redrawn each
    epoch): computing them once saves most of an epoch on CPU, where the CNN dominates. Set
    `keys` to one hashable per row of the batch (`Partition.keys`: the utterance's audio) before
    a forward, None to bypass.

    `alone`: an utterance missing from the cache is computed by itself, not with its batch, so
    its cached features are the same bits whichever batch it first came in (a padded batch's
    convolutions and masked sums match the utterance alone to float rounding only): stacked
    training (`xlser.peft.stack`), whose batches mix folds, repeats a run exactly after a resume.
    """

    def __init__(self, inner: nn.Module, max_bytes: float = 4e9, alone: bool = False):
        super().__init__()
        self.inner = inner
        self.keys: list[Any] | None = None
        self.max_bytes = max_bytes
        self.alone = alone
        self._cache: dict[Any, torch.Tensor] = {}
        self._bytes = 0

    def _store(self, key: Any, part: torch.Tensor) -> None:
        size = part.numel() * part.element_size()
        if key not in self._cache and self._bytes + size <= self.max_bytes:
            self._cache[key] = part.cpu()
            self._bytes += size

    def forward(
        self, input_values: torch.Tensor, lengths: torch.Tensor, frames: torch.Tensor, per_utterance: bool = False
    ) -> torch.Tensor:
        """CNN output (B, C, T) of the batch, zero after each utterance's `frames`."""
        from xlser.models.encoder import cnn_features

        keys = self.keys
        n = [int(f) for f in frames.tolist()]
        if keys is not None and len(keys) != len(n):
            raise ValueError(f"{len(keys)} cache keys for a batch of {len(n)} utterances")
        if keys is not None and self.alone:
            parts = []
            for b, k in enumerate(keys):
                if k in self._cache:
                    parts.append(self._cache[k].to(input_values.device))
                    continue
                length = int(lengths[b])  # (a sync on a GPU: once per utterance, when it is first cached)
                with torch.no_grad():
                    one = cnn_features(self.inner, input_values[b : b + 1, :length], lengths[b : b + 1], per_utterance)
                parts.append(one[0, :, : n[b]].detach())
                self._store(k, parts[-1])
        elif keys is None or not all(k in self._cache for k in keys):
            with torch.no_grad():
                out = cnn_features(self.inner, input_values, lengths, per_utterance=per_utterance)
            parts = [out[b, :, : n[b]].detach() for b in range(len(n))]
            for k, part in zip(keys or [], parts):
                self._store(k, part)
        else:
            parts = [self._cache[k].to(input_values.device) for k in keys]
        t = max(n)
        return torch.stack([nn.functional.pad(part, (0, t - part.shape[-1])) for part in parts])


class PeftSER(nn.Module):
    """Cut encoder (+ PEFT modules) -> mean over valid frames -> head.

    `encoder_mode="eval"`: the encoder's own stochastic parts (dropout, LayerDrop, SpecAugment
    masking) stay off even while training: its weights are frozen, and LayerDrop would skip
    the very layers the cut keeps; LoRA dropout is the only dropout in the encoder that
    trains. `"train"`: the study's code, the encoder in training mode while fine-tuning, with
    the dropout, LayerDrop and time masking its checkpoint's config sets. The CNN has no
    stochastic part, so its cached features are valid in both modes.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, n_classes: int, encoder_mode: str = "eval"):
        super().__init__()
        if encoder_mode not in ENCODER_MODES:
            raise ValueError(f"unknown encoder_mode '{encoder_mode}': expected one of {ENCODER_MODES}")
        self.n_classes = n_classes
        self.encoder_mode = encoder_mode
        self.encoder = encoder
        self.head = head
        for name, p in self.encoder.named_parameters():
            p.requires_grad_(_is_peft_param(name))
        cnn = getattr(self.encoder, "feature_extractor", None)
        if hasattr(cnn, "_freeze_parameters"):
            cnn._freeze_parameters()  # in training mode it would otherwise build a graph through the CNN
        self.features: CachedFeatureEncoder | None = None
        # the head's input standardisation (`peft.standardize`): identity until set_input_stats
        dim = int(getattr(getattr(encoder, "config", None), "hidden_size", 0) or 0)
        self.register_buffer("in_mean", torch.zeros(dim))
        self.register_buffer("in_std", torch.ones(dim))

    def set_input_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise the head's input with these statistics (of the training partition's
        pooled features under the initial model): a fixed affine map, not trained."""
        self.in_mean = mean.detach().to(self.in_mean.device, torch.float32).clone()
        self.in_std = std.detach().to(self.in_std.device, torch.float32).clamp(min=1e-5).clone()

    def cache_features(self, max_bytes: float = 4e9) -> None:
        """Compute the frozen CNN features once per utterance (see `CachedFeatureEncoder`); set
        `self.features.keys` to the batch's utterance keys before each forward, None to bypass."""
        if self.features is None:
            self.features = CachedFeatureEncoder(self.encoder.feature_extractor, max_bytes)

    def train(self, mode: bool = True) -> PeftSER:
        super().train(mode)
        if self.encoder_mode == "train":
            return self
        self.encoder.eval()
        if mode:
            for name, m in self.encoder.named_modules():
                if "lora_dropout" in name:
                    m.train()
        return self

    def pooled(
        self, input_values: torch.Tensor, lengths: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean of the last hidden state over each utterance's valid frames.

        Through `xlser.models.encoder`'s exact batches: each utterance as if alone (`lengths` in samples
        define the valid part; `attention_mask` is not needed and ignored)."""
        from xlser.models import encoder as exact

        mode = exact.batch_mode(self.encoder)
        frames = exact.frame_lengths(self.encoder, lengths)
        feats = None
        if self.features is not None and mode != "unbatched":
            feats = self.features(input_values, lengths, frames, per_utterance=mode == "cnn_per_utterance")
        hidden = exact.forward(self.encoder, input_values, lengths, mode=mode, features=feats)[0]
        frames = frames.clamp(1, hidden.shape[1])
        mask = (torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]).to(hidden.dtype)
        return (hidden * mask[..., None]).sum(1) / frames[:, None].to(hidden.dtype)

    def forward(
        self, input_values: torch.Tensor, lengths: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        pooled = self.pooled(input_values, lengths, attention_mask).float()
        if self.in_mean.numel():
            pooled = (pooled - self.in_mean) / self.in_std
        return self.head(pooled)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The trained weights (LoRA, adapters, gates, head) and the head's input statistics:
        what gets saved."""
        state = {n: p.detach().clone() for n, p in self.named_parameters() if p.requires_grad}
        return state | {"in_mean": self.in_mean.detach().clone(), "in_std": self.in_std.detach().clone()}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        trained = {n: p for n, p in self.named_parameters() if p.requires_grad}
        load_trained(self, trained, state, dict(self.named_parameters()))


def load_trained(
    holder: nn.Module,
    trained: Mapping[str, torch.Tensor],
    state: Mapping[str, torch.Tensor],
    params: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Copy a `trainable_state` back in place: every trained weight (`trained`, by name) must be
    in `state`; the head-input statistics (`in_mean`, `in_std`) are buffers of `holder`, set
    anew on its device. `params`: where the other names of `state` go (default `trained`)."""
    missing = set(trained) - set(state)
    if missing:
        raise KeyError(f"checkpoint lacks trained weights: {sorted(missing)[:5]}")
    params = trained if params is None else params
    with torch.no_grad():
        for n, t in state.items():
            if n in ("in_mean", "in_std"):
                setattr(holder, n, t.detach().to(getattr(holder, n).device).clone())
            else:
                params[n].copy_(t)


def build_model(
    encoder: nn.Module,
    layers: int,
    strategy: str,
    n_classes: int,
    head: str = "linear",
    lora: Lora | None = None,
    adapter: Adapter | None = None,
    encoder_mode: str = "eval",
) -> PeftSER:
    """The model of one strategy: the first `layers` transformer layers kept (see
    `layers_to_keep`), PEFT modules on each of them, a fresh head. `lora`/`adapter` default
    to the study's sizes; the workflow always passes its configured ones."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown PEFT strategy '{strategy}': expected one of {STRATEGIES}")
    if uses_lora(strategy) and layers == 0:
        raise ValueError(f"{strategy} with no transformer layer kept: nothing to adapt (it would be `frozen`)")
    cut_encoder(encoder, layers)
    if uses_lora(strategy):
        lo = lora or STUDY_LORA
        add_lora(encoder, r=int(lo.r), alpha=float(lo.alpha), dropout=float(lo.dropout))
    if uses_adapters(strategy):
        add_adapters_and_gates(encoder, int((adapter or STUDY_ADAPTER).reduction))
    return PeftSER(encoder, make_head(head, encoder.config.hidden_size, n_classes), n_classes, encoder_mode)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total
