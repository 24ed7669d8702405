"""One exact, batched forward pass for every speech encoder: each utterance as if alone.

Why: a padded batch changes an utterance's numbers in three places, and each is fixed here.
1. Normalisation (`do_normalize`): each waveform is normalised on its own samples
   (`prepare`), never over the padding of its batch.
2. The CNN feature encoder: a group-norm CNN (the wav2vec2-base family, the study's
   checkpoints) normalises its first layer over time, padding included. `cnn_features`
   computes that GroupNorm over each utterance's valid frames only (the convolutions
   themselves never let padding reach a valid frame); a per-frame LayerNorm CNN needs
   nothing; an unknown CNN runs one utterance at a time.
3. The transformer: it gets the frame-level attention mask, so padded frames are zeroed
   before the positional convolution and never attended to.

The transformer part is the model's own top-level `forward` (so hidden states, SpecAugment
in training mode, WavLM's relative position bias and adapters behave exactly as upstream),
with the CNN's `forward` replaced for the call by the features computed above.

Whether this is exact is not assumed from a list: `batch_mode` runs the model once on two
utterances, alone and together, and picks the first mode that reproduces them (masked CNN,
else per-utterance CNN, else no batching: e.g. data2vec-audio, whose stacked positional
convolutions let padding leak into valid frames). The choice is logged and cached on the model.

Layer numbering: hidden state 0 is the transformer's input, k the output of block k, as
transformers 5 returns them. For stable-layer-norm models (large, XLS-R) the encoder's final
LayerNorm follows the last block; transformers 5 leaves it out of the top hidden state,
transformers 4 applied it. `top_layer_norm=True` gives transformers 4's numbering (the top
state replaced by the model's `last_hidden_state`, i.e. after that LayerNorm); the other
models have no such norm, so for them both numberings are the same.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

#: model types known to leak padding into valid frames even with a mask (skip the self-check)
PAD_SENSITIVE = {"data2vec-audio"}
#: batching modes, most batched first
MODES = ("batched", "cnn_per_utterance", "unbatched")
#: largest relative deviation (of the pooled hidden states' scale) accepted as "the same numbers"
EXACT_RTOL = 1e-4


def prepare(
    feature_extractor: Any, wavs: Sequence[np.ndarray], clip_normalised: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Waveforms -> (zero-padded input values (B, S) float32, lengths in samples (B,)).

    The feature extractor sees each waveform alone, so `do_normalize` uses only its samples.
    `clip_normalised`: the normalised (zero-mean, unit-variance) values are clipped to +-1, as
    the study's fine-tuning data path did by storing them as 16-bit PCM
    (`peft.clip_normalised_waveform`; the layer-wise path never clips)."""
    sr = int(getattr(feature_extractor, "sampling_rate", 16000) or 16000)
    values = [
        np.asarray(
            feature_extractor(np.asarray(w, dtype=np.float32), sampling_rate=sr, return_tensors="np")["input_values"][
                0
            ],
            dtype=np.float32,
        )
        for w in wavs
    ]
    if clip_normalised:
        values = [np.clip(v, -1.0, 1.0) for v in values]
    lengths = torch.tensor([len(v) for v in values], dtype=torch.long)
    out = torch.zeros(len(values), int(lengths.max()) if len(values) else 0)
    for i, v in enumerate(values):
        out[i, : len(v)] = torch.from_numpy(v)
    return out, lengths


def frame_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """(B, t) bool: True at the first `lengths[b]` positions."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


def _conv_len(conv: nn.Conv1d, n: torch.Tensor) -> torch.Tensor:
    return torch.div(n - conv.kernel_size[0], conv.stride[0], rounding_mode="floor") + 1


def _cnn_layers(feature_encoder: nn.Module) -> list[nn.Module] | None:
    """The conv layers if every one is conv (+ GroupNorm or per-frame LayerNorm or no norm) + activation."""
    layers = getattr(feature_encoder, "conv_layers", None)
    if layers is None:
        return None
    for layer in layers:
        conv, norm = getattr(layer, "conv", None), getattr(layer, "layer_norm", None)
        if not isinstance(conv, nn.Conv1d) or conv.padding not in ((0,), 0, "valid") or conv.dilation != (1,):
            return None
        if norm is not None and not isinstance(norm, (nn.GroupNorm, nn.LayerNorm)):
            return None
        if isinstance(norm, nn.GroupNorm) and not hasattr(layer, "activation"):
            return None
    return list(layers)


def has_group_norm(feature_encoder: nn.Module) -> bool:
    return any(isinstance(m, nn.GroupNorm) for m in feature_encoder.modules())


def masked_group_norm(h: torch.Tensor, n: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """GroupNorm of (B, C, T) over each utterance's first n[b] frames only (zeros after them)."""
    b, c, t = h.shape
    g = norm.num_groups
    x = h.float().reshape(b, g, c // g, t)
    m = frame_mask(n.to(h.device), t).to(x.dtype)[:, None, None, :]
    count = (n.to(h.device).clamp(min=1).to(x.dtype) * (c // g))[:, None, None, None]
    mean = (x * m).sum((2, 3), keepdim=True) / count
    var = (((x - mean) * m) ** 2).sum((2, 3), keepdim=True) / count
    y = ((x - mean) / torch.sqrt(var + norm.eps) * m).reshape(b, c, t)
    if norm.affine:
        y = y * norm.weight.float()[None, :, None] + norm.bias.float()[None, :, None]
    return y * m.reshape(b, 1, t)


def cnn_features(
    feature_encoder: nn.Module, values: torch.Tensor, lengths: torch.Tensor, per_utterance: bool = False
) -> torch.Tensor:
    """CNN output (B, C, T) of a padded batch; every valid frame as for the utterance alone."""
    layers = None if per_utterance else _cnn_layers(feature_encoder)
    if layers is not None and not has_group_norm(feature_encoder):
        return feature_encoder(values)  # per-frame norms only: padding never reaches a valid frame
    if layers is None:
        outs = [feature_encoder(values[i : i + 1, : int(n)]) for i, n in enumerate(lengths.tolist())]
        t = max(o.shape[-1] for o in outs)
        return torch.cat([nn.functional.pad(o, (0, t - o.shape[-1])) for o in outs])
    h, n = values[:, None], lengths.to(values.device)
    for layer in layers:
        if isinstance(getattr(layer, "layer_norm", None), nn.GroupNorm):
            h = layer.conv(h)
            n = _conv_len(layer.conv, n)
            h = layer.activation(masked_group_norm(h, n, layer.layer_norm).to(h.dtype))
        else:
            h = layer(h)
            n = _conv_len(layer.conv, n)
    return h


class _Fixed(nn.Module):
    """Stands in for the CNN for one call: returns the features computed beforehand."""

    def __init__(self, features: torch.Tensor):
        super().__init__()
        self.out = features

    def forward(self, *_args: Any, **_kwargs: Any) -> torch.Tensor:
        return self.out


@contextlib.contextmanager
def _cnn_output(model: nn.Module, features: torch.Tensor) -> Iterator[None]:
    """Inside: `model.feature_extractor(...)` returns `features` (the model's own forward does the rest;
    the real CNN module is swapped out, so its hooks see only real CNN passes)."""
    real = model._modules["feature_extractor"]
    model._modules["feature_extractor"] = _Fixed(features)
    try:
        yield
    finally:
        model._modules["feature_extractor"] = real


def _forward_one_by_one(
    model: nn.Module, values: torch.Tensor, lengths: torch.Tensor, all_layers: bool, top_layer_norm: bool = False
) -> tuple[torch.Tensor, ...]:
    outs = []
    for i, n in enumerate(lengths.tolist()):
        o = model(values[i : i + 1, : int(n)], output_hidden_states=all_layers)
        outs.append(_states(o, all_layers, top_layer_norm))
    t = max(h[0].shape[1] for h in outs)
    pad = lambda x: nn.functional.pad(x, (0, 0, 0, t - x.shape[1]))  # noqa: E731
    return tuple(torch.cat([pad(o[k]) for o in outs]) for k in range(len(outs[0])))


def forward(
    model: nn.Module,
    values: torch.Tensor,
    lengths: torch.Tensor,
    *,
    all_layers: bool = False,
    mode: str | None = None,
    features: torch.Tensor | None = None,
    top_layer_norm: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Hidden states of a padded batch, (B, T, D) each: all of them (0 = transformer input) or the last.

    `features`: precomputed CNN output (B, C, T) (e.g. from a cache); `mode`: see `batch_mode`;
    `top_layer_norm`: the top state after the final LayerNorm (transformers 4's numbering)."""
    mode = mode or batch_mode(model)
    lengths = lengths.to(values.device)
    if mode == "unbatched":
        return _forward_one_by_one(model, values, lengths, all_layers, top_layer_norm)
    if features is None:
        features = cnn_features(model.feature_extractor, values, lengths, per_utterance=mode == "cnn_per_utterance")
    mask = frame_mask(lengths, values.shape[1]).long()
    with _cnn_output(model, features):
        out = model(values, attention_mask=mask, output_hidden_states=all_layers)
    return _states(out, all_layers, top_layer_norm)


def _states(out: Any, all_layers: bool, top_layer_norm: bool = False) -> tuple[torch.Tensor, ...]:
    if not all_layers:
        return (out.last_hidden_state,)
    if not out.hidden_states:  # an encoder cut to 0 layers records none: its output is hidden state 0
        return (out.last_hidden_state,)
    states = tuple(out.hidden_states)
    # last_hidden_state is the top block's output after the encoder's final norm, where it has one
    return states[:-1] + (out.last_hidden_state,) if top_layer_norm and len(states) > 1 else states


def frame_lengths(model: nn.Module, lengths: torch.Tensor) -> torch.Tensor:
    """Valid frames per utterance after the CNN (the model's own arithmetic)."""
    return model._get_feat_extract_output_lengths(lengths).to(torch.long)


def masked_mean(hidden: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Mean over the first `frames[b]` frames: (layers, B, T, D) -> (B, layers, D)."""
    mask = frame_mask(frames.to(hidden.device), hidden.shape[2]).to(hidden.dtype)
    summed = torch.einsum("lbtd,bt->bld", hidden, mask)
    return summed / frames.to(hidden.device).clamp(min=1).to(hidden.dtype)[:, None, None]


def pooled(
    model: nn.Module,
    values: torch.Tensor,
    lengths: torch.Tensor,
    *,
    all_layers: bool = True,
    mode: str | None = None,
    features: torch.Tensor | None = None,
    top_layer_norm: bool = False,
) -> torch.Tensor:
    """Hidden states mean-pooled over valid frames, float32: (B, layers+1 or 1, D)."""
    hidden = forward(
        model, values, lengths, all_layers=all_layers, mode=mode, features=features, top_layer_norm=top_layer_norm
    )
    frames = frame_lengths(model, lengths.to(values.device)).clamp(1, hidden[0].shape[1])
    return masked_mean(torch.stack([h.float() for h in hidden]), frames)


def _probe_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Two noise 'utterances' (0.6 s and 1.0 s at 16 kHz), normalised, from a private generator."""
    g = torch.Generator().manual_seed(1234)
    lengths = torch.tensor([9600, 16000])
    values = torch.zeros(2, 16000)
    for i, n in enumerate(lengths.tolist()):
        x = torch.randn(n, generator=g)
        values[i, :n] = (x - x.mean()) / x.std()
    return values, lengths


@torch.no_grad()
def deviation(model: nn.Module, mode: str) -> float:
    """Largest |batched - alone| of the pooled hidden states (all layers), relative to their scale."""
    dev = next(model.parameters()).device
    values, lengths = (t.to(dev) for t in _probe_inputs())
    modes = {m: m.training for m in model.modules()}  # restored one by one (e.g. only LoRA dropout training)
    model.eval()
    try:
        with torch.autocast(dev.type, enabled=False):
            both = pooled(model, values, lengths, mode=mode)
            alone = torch.cat(
                [
                    pooled(model, values[i : i + 1, :n], lengths[i : i + 1], mode="unbatched")
                    for i, n in enumerate(lengths.tolist())
                ]
            )
    finally:
        for m, training in modes.items():
            m.training = training
    return float((both - alone).abs().max() / alone.abs().max().clamp(min=1e-12))


def batch_mode(model: nn.Module) -> str:
    """The most batched mode that gives every utterance its numbers alone (checked once per model, logged)."""
    cached = model.__dict__.get("_xlser_batch_mode")
    if cached is not None:
        return cached
    kind = getattr(model.config, "model_type", type(model).__name__)
    mode, why = "unbatched", f"{kind} is known to let padding leak into valid frames"
    if kind not in PAD_SENSITIVE:
        devs = {}
        for m in MODES[:-1]:
            devs[m] = deviation(model, m)
            if devs[m] <= EXACT_RTOL:
                mode = m
                break
        why = ", ".join(f"{m}: {d:.1e}" for m, d in devs.items()) + " relative deviation from one-by-one"
    model.__dict__["_xlser_batch_mode"] = mode
    if mode == "unbatched":
        log.info("%s: batches are NOT exact (%s): one utterance per forward pass", kind, why)
    else:
        log.info("%s: exact batching, mode %s (%s)", kind, mode, why)
    return mode
