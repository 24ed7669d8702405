"""One frozen encoder, many fine-tuned models: PEFT modules and random draws chosen per batch row.

`xlser.peft.stack` trains the fold models of one experiment together. Their frozen encoder
weights are identical (one checkpoint, one cut), so one copy computes a batch whose rows
belong to different models: each row reads its own model's LoRA factors, adapter, gate and
head, gathered per row from the models' stacked weights (`Rows.w`), and draws its dropout
masks, LayerDrop decisions and SpecAugment time masks from its own model's generators
(`MemberRng`). The encoder forward itself is `xlser.models.encoder`'s exact batched path, so
a row's numbers never depend on the other rows (to float rounding).

How the modules are per row:
- LoRA (`RowLora`, in place of each target `nn.Linear`): base(x) + (drop(x) @ A[m]^T) @ B[m]^T
  * alpha / r, as two `torch.bmm` over rows with the factors A[m], B[m] of each row's model m;
  the same sum, in the same order, as peft's `lora_B(lora_A(dropout(x))) * scaling`.
- Adapters and input gates: forward hooks as in `xlser.peft.modules`, with per-row weights.
- The head (`row_head`): the same layers as `make_head`'s, as batched matmuls of per-row weights.

Why not the alternatives the PyTorch and peft libraries offer: `torch.func.stack_module_state`
with `vmap(functional_call)` cannot run the exact encoder path (per-utterance lengths read
with `.tolist()`, transformers' boolean-mask assignment of padded frames, SpecAugment drawn
in numpy), and its `randomness="different"` draws from the global generator, not one stream
per model; peft's mixed-batch `adapter_names` works in inference only.

Random draws (`encoder_mode: train`, LoRA dropout): transformers' modules draw from the
global generators and decide LayerDrop once per batch; here every draw is taken over
(`install_rows`): each `nn.Dropout` becomes a `RowDropout`; attention dropout goes through a
registered attention function (`xlser_rows`, `row_attention`: torch's attention kernel once
per model with the model's stream in torch's default generator for the call on a CPU, eager
attention with per-row masks on a GPU); LayerDrop is decided per model by `RowLayerDrop`
around each layer (the encoder's own LayerDrop is set to 0; a layer runs on the rows of the
models that keep it, and a model that skips it gets no gradient there, as in a separate
run); SpecAugment masks are drawn by transformers' own `_compute_mask_indices` per model
under that model's numpy state. A model draws each mask with the shape its own batch would
have (its rows, its own padded length) and draws nothing in a layer it skips, so its stream
is a function of its own batches alone: its numbers do not depend on which models share its
stack. The price: one small mask kernel per model per dropout site (with the copy into the
batch's mask) instead of one per site, some ten sites per layer, so a few hundred launches
per model and step on a GPU (negligible on a CPU); a draw shared by all models would couple
their streams and tie a model's numbers to its stack-mates.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xlser.peft.modules import LORA_TARGETS

ATTENTION = "xlser_rows"  # the registered attention implementation of a stacked encoder in training mode
#: devices whose attention dropout runs torch's kernel once per model (`row_attention`)
KERNEL_PER_MODEL = {"cpu"}


class MemberRng:
    """One stacked model's own random streams, seeded from its job's seed and fold: a torch
    generator on the CPU (LayerDrop decisions), one on the device (dropout masks), a numpy
    RandomState (SpecAugment's masks, drawn by transformers' numpy code). Saved in the model's
    checkpoint (`state`), restored on resume (`load`)."""

    def __init__(self, seed: int, device: torch.device):
        self.cpu = torch.Generator().manual_seed(seed)
        self.dev = self.cpu if device.type == "cpu" else torch.Generator(device=device).manual_seed(seed)
        self.numpy = np.random.RandomState(seed % 2**32)

    def state(self) -> dict[str, Any]:
        return {"cpu": self.cpu.get_state(), "dev": self.dev.get_state(), "numpy": self.numpy.get_state()}

    def load(self, state: dict[str, Any]) -> None:
        self.cpu.set_state(state["cpu"].cpu())  # a checkpoint loaded onto a GPU maps the states there
        if self.dev is not self.cpu:
            self.dev.set_state(state["dev"].cpu())
        self.numpy.set_state(state["numpy"])

    @contextlib.contextmanager
    def torch_global(self) -> Iterator[None]:
        """torch's default generator of the device holds this model's device stream inside the
        block (for kernels that draw from it, e.g. the dropout of `scaled_dot_product_attention`);
        the caller's state is restored afterwards."""
        device = self.dev.device
        get, put = (
            (torch.get_rng_state, torch.set_rng_state)
            if device.type == "cpu"
            else (lambda: torch.cuda.get_rng_state(device), lambda s: torch.cuda.set_rng_state(s, device))
        )
        saved = get()
        put(self.dev.get_state())
        try:
            yield
        finally:
            self.dev.set_state(get())
            put(saved)

    @contextlib.contextmanager
    def numpy_global(self) -> Iterator[None]:
        """numpy's global generator holds this model's state inside the block (for library code
        that draws from it); the caller's global state is restored afterwards."""
        saved = np.random.get_state()
        np.random.set_state(self.numpy.get_state())
        try:
            yield
        finally:
            self.numpy.set_state(np.random.get_state())
            np.random.set_state(saved)


def member_seed(seed: int, fold: int) -> int:
    """A model's stream seed from its job's seed and fold (independent streams per fold)."""
    return int(np.random.SeedSequence([int(seed), int(fold)]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass(frozen=True)
class Span:
    """The rows [start, end) of one model (stack slot `slot`) in the batch; `frames`: the padded
    frame count of its rows alone (the shape its masks are drawn with); `rng`: its streams."""

    slot: int
    start: int
    end: int
    frames: int
    rng: MemberRng | None


class Rows:
    """Who owns each row of the batch being computed, and the stacked weights they read.

    `owner` (B,): the slot of each row; rows of a slot are contiguous (`spans`). `weights`:
    name -> tensor stacked over slots (S, ...), matrices transposed (S, in, out), as the
    batched matmuls read them. `training`: LoRA dropout on. `skipped`: the (slot, layer)
    pairs that LayerDrop skipped in this forward."""

    def __init__(self) -> None:
        self.owner: torch.Tensor | None = None
        self.spans: list[Span] = []
        self.weights: dict[str, torch.Tensor] = {}
        self.training = False
        self.identity = True
        self.skipped: set[tuple[int, int]] = set()
        self._gathered: dict[str, torch.Tensor] = {}

    def set(self, owner: torch.Tensor, spans: Sequence[Span], weights: dict[str, torch.Tensor], training: bool) -> None:
        self.owner, self.spans, self.weights, self.training = owner, list(spans), weights, training
        self.skipped = set()
        self._reindex()

    def _reindex(self) -> None:
        n_slots = len(next(iter(self.weights.values()))) if self.weights else 0
        one_each = len(self.spans) == n_slots == len(self.owner) and all(s.end - s.start == 1 for s in self.spans)
        self.identity = one_each and all(s.slot == i for i, s in enumerate(self.spans))
        self._gathered = {}

    @contextlib.contextmanager
    def only(self, keep: Sequence[Span]) -> Iterator[torch.Tensor]:
        """Inside: the batch is the rows of the spans `keep` alone (a layer computed for some
        models only); yields their row indices in the full batch."""
        saved = (self.owner, self.spans, self.identity, self._gathered)
        rows = torch.cat([torch.arange(s.start, s.end) for s in keep]).to(self.owner.device)
        spans, start = [], 0
        for s in keep:
            spans.append(Span(s.slot, start, start + s.end - s.start, s.frames, s.rng))
            start += s.end - s.start
        self.owner, self.spans = self.owner.index_select(0, rows), spans
        self._reindex()
        try:
            yield rows
        finally:
            self.owner, self.spans, self.identity, self._gathered = saved

    def w(self, name: str) -> torch.Tensor:
        """Weight `name` of each row's model: (B, ...)."""
        if self.identity:
            return self.weights[name]
        if name not in self._gathered:
            self._gathered[name] = self.weights[name].index_select(0, self.owner)
        return self._gathered[name]

    def dropout(self, x: torch.Tensor, p: float, time_dims: Sequence[int] = (1,)) -> torch.Tensor:
        """Inverted dropout with every model's mask from its own device generator, drawn with the
        shape of its rows alone (its own frame count along `time_dims`; the padding gets 0)."""
        if p >= 1:
            return x * 0
        mask = None
        for s in self.spans:
            shape = [s.end - s.start, *x.shape[1:]]
            for d in time_dims:
                shape[d] = min(s.frames, x.shape[d])
            if s.rng is None:
                m = torch.ones(shape, dtype=x.dtype, device=x.device)
            else:
                m = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1 - p, generator=s.rng.dev)
            if len(self.spans) == 1 and shape == list(x.shape):
                mask = m
                continue
            mask = torch.empty_like(x) if mask is None else mask
            block = mask[s.start : s.end]
            block[(slice(None), *(slice(0, n) for n in shape[1:]))] = m
            for d in time_dims:  # the frames past this model's own: 0 (never read by a valid frame)
                block.narrow(d, shape[d], x.shape[d] - shape[d]).zero_()
        return x * mask.div_(1 - p)

    def layer_skips(self, p: float) -> list[bool]:
        """LayerDrop: each model's decision for the layer about to run, from its CPU generator."""
        return [bool(torch.rand([], generator=s.rng.cpu) < p) if s.rng is not None else False for s in self.spans]


class RowLora(nn.Module):
    """A frozen `nn.Linear` plus each row's LoRA update (see the module docstring)."""

    def __init__(self, base: nn.Linear, a: str, b: str, scaling: float, dropout: float, rows: Rows):
        super().__init__()
        self.base, self.a, self.b, self.scaling, self.p = base, a, b, scaling, dropout
        self._rows = [rows]  # a plain reference: shared by every row module, not a submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self._rows[0]
        out = self.base(x)
        a, b = rows.w(self.a), rows.w(self.b)  # (B, in, r), (B, r, out)
        if rows.training and self.p > 0:
            x = rows.dropout(x, self.p)
        return out + torch.bmm(torch.bmm(x, a.to(x.dtype)), b.to(x.dtype)) * self.scaling


class RowDropout(nn.Module):
    """`nn.Dropout` with each row's mask from its model's generator (in training mode)."""

    def __init__(self, p: float, rows: Rows):
        super().__init__()
        self.p = p
        self._rows = [rows]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return self._rows[0].dropout(x, self.p)


class RowLayerDrop(nn.Module):
    """Transformer layer `index`, which each model skips with probability `p` (its own
    decision, in training mode): the layer runs on the rows of the models that keep it (the
    others pass through unchanged and draw nothing inside), and the skips are recorded
    (`Rows.skipped`): a skipping model's weights of that layer get no gradient in this step
    (None, as in a separate run, so AdamW leaves them alone)."""

    def __init__(self, layer: nn.Module, index: int, p: float, rows: Rows):
        super().__init__()
        self.layer, self.index, self.p = layer, index, p
        self._rows = [rows]

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> Any:
        rows = self._rows[0]
        if not self.training or self.p == 0:
            return self.layer(hidden_states, attention_mask=attention_mask, **kwargs)
        skips = rows.layer_skips(self.p)
        rows.skipped |= {(s.slot, self.index) for s, skip in zip(rows.spans, skips) if skip}
        if not any(skips):
            return self.layer(hidden_states, attention_mask=attention_mask, **kwargs)
        if all(skips):
            return hidden_states
        with rows.only([s for s, skip in zip(rows.spans, skips) if not skip]) as keep:
            per_row = attention_mask is not None and attention_mask.shape[0] == hidden_states.shape[0] > 1
            mask = attention_mask.index_select(0, keep) if per_row else attention_mask
            out = self.layer(hidden_states.index_select(0, keep), attention_mask=mask, **kwargs)
        return hidden_states.index_copy(0, keep, out)


def row_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **_: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention whose dropout of the attention probabilities is drawn per model
    (`module._xlser_rows`), with the separate run's probability.

    No dropout (eval, or no attention dropout): one `scaled_dot_product_attention` over the
    batch. With dropout, on a CPU: torch's own kernel per model on its rows alone (its own
    frames, so unmasked at batch 1), with its stream in torch's default generator for the
    call: the separate run's kernel and cost. On a GPU: eager attention over the whole batch
    with each model's mask drawn from its device generator (`Rows.dropout`): one batched
    softmax instead of one kernel launch per model and layer."""
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    rows = getattr(module, "_xlser_rows", None)
    if dropout == 0 or not module.training or rows is None:
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, scale=scaling)
        return out.transpose(1, 2).contiguous(), None
    if query.device.type in KERNEL_PER_MODEL:
        return _attention_per_model(query, key, value, attention_mask, scaling, dropout, rows[0]), None
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = rows[0].dropout(F.softmax(weights, dim=-1), dropout, time_dims=(2, 3))
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def _attention_per_model(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float,
    rows: Rows,
) -> torch.Tensor:
    """`scaled_dot_product_attention` with dropout for each model's rows (their own frames),
    drawing from that model's stream; the outputs padded back to the batch's frames."""
    t = query.shape[2]
    outs = []
    for s in rows.spans:
        f = min(s.frames, t)
        q, k, v = (x[s.start : s.end, :, :f] for x in (query, key, value))
        mask = None if attention_mask is None or s.end - s.start == 1 else attention_mask[s.start : s.end, :, :f, :f]
        with s.rng.torch_global():
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=scaling)
        outs.append(F.pad(out.transpose(1, 2), (0, 0, 0, 0, 0, t - f)))
    return torch.cat(outs).contiguous()


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION, row_attention)
    AttentionMaskInterface.register(ATTENTION, eager_mask)


def _row_spec_augment(model: nn.Module, rows: Rows):
    """`model._mask_hidden_states` with each model's time (and feature) masks drawn by
    transformers' own `_compute_mask_indices`, with the shape of its rows alone and under its
    own numpy state."""
    compute = sys.modules[type(model).__module__]._compute_mask_indices
    cfg = model.config

    def masked(hidden_states: torch.Tensor, mask_time_indices: Any = None, attention_mask: Any = None) -> torch.Tensor:
        if not getattr(cfg, "apply_spec_augment", True) or not model.training:
            return hidden_states
        b, t, d = hidden_states.shape
        time = np.zeros((b, t), dtype=bool)
        feat = np.zeros((b, d), dtype=bool)
        for s in rows.spans:
            n, f = s.end - s.start, min(s.frames, t)
            with s.rng.numpy_global():
                if cfg.mask_time_prob > 0:
                    mask = None if attention_mask is None else attention_mask[s.start : s.end, :f]
                    time[s.start : s.end, :f] = compute(
                        (n, f), cfg.mask_time_prob, cfg.mask_time_length, mask, cfg.mask_time_min_masks
                    )
                if cfg.mask_feature_prob > 0:
                    feat[s.start : s.end] = compute(
                        (n, d), cfg.mask_feature_prob, cfg.mask_feature_length, None, cfg.mask_feature_min_masks
                    )
        if time.any():
            hidden_states[torch.from_numpy(time).to(hidden_states.device)] = model.masked_spec_embed.to(
                hidden_states.dtype
            )
        if feat.any():
            hidden_states[torch.from_numpy(feat).to(hidden_states.device)[:, None].expand(-1, t, -1)] = 0
        return hidden_states

    return masked


def why_not_rows(encoder: nn.Module, uses_lora: bool, encoder_mode: str) -> str | None:
    """Why this (cut) encoder cannot compute rows of different models, or None when it can."""
    from xlser.models.encoder import batch_mode

    kind = getattr(encoder.config, "model_type", type(encoder).__name__)
    if batch_mode(encoder) == "unbatched":
        return f"{kind}: batches are not exact (batch mode unbatched)"
    interface = type(encoder)._can_set_attn_implementation()
    if uses_lora and not interface:
        return f"{kind}: its attention reads the projection weights directly (no per-row LoRA)"
    if encoder_mode == "train":
        if not interface:
            return f"{kind}: its attention draws dropout inside torch (not per model)"
        if getattr(encoder.config, "add_adapter", False):
            return f"{kind}: its adapter layers draw LayerDrop from numpy (not per model)"
        if not hasattr(sys.modules[type(encoder).__module__], "_compute_mask_indices"):
            return f"{kind}: no SpecAugment mask function to draw per model"
    return None


def _lora_names(names: set[str], path: str) -> tuple[str, str]:
    a, b = f"encoder.{path}.lora_A.default.weight", f"encoder.{path}.lora_B.default.weight"
    if a not in names or b not in names:
        raise KeyError(f"no LoRA weights for {path} among the model's trained weights")
    return a, b


def install_rows(
    encoder: nn.Module, names: Sequence[str], lora: Any, encoder_mode: str, rows: Rows, adapters: bool
) -> None:
    """Make a cut, frozen encoder compute per-row models (in place): LoRA, adapters and gates
    reading the weights `names` (a PeftSER's trained weights) through `rows`, and, in training
    mode, every random draw per model (see the module docstring)."""
    have = set(names)
    for i, layer in enumerate(encoder.encoder.layers):
        if lora is not None:
            for target in LORA_TARGETS:
                parent_name, _, attr = target.rpartition(".")
                parent = layer.get_submodule(parent_name)
                a, b = _lora_names(have, f"encoder.layers.{i}.{target}")
                row = RowLora(getattr(parent, attr), a, b, float(lora.alpha) / int(lora.r), float(lora.dropout), rows)
                setattr(parent, attr, row)
        if adapters:
            layer.feed_forward.register_forward_hook(_row_adapter_hook(f"encoder.encoder.layers.{i}.", rows))
            layer.register_forward_pre_hook(
                _row_gate_hook(f"encoder.encoder.layers.{i}.input_gate.g", rows), with_kwargs=True
            )
    if encoder_mode == "train":
        _install_random_draws(encoder, rows)


def _install_random_draws(encoder: nn.Module, rows: Rows) -> None:
    """Every random draw of the encoder in training mode taken over per model (module docstring)."""
    for module in list(encoder.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Dropout):
                setattr(module, child_name, RowDropout(child.p, rows))
    if float(getattr(encoder.config, "attention_dropout", 0.0) or 0.0) > 0:
        _register_attention()
        encoder.set_attn_implementation(ATTENTION)
        for module in encoder.modules():
            if hasattr(module, "q_proj"):
                module._xlser_rows = [rows]
    p = float(getattr(encoder.config, "layerdrop", 0.0) or 0.0)
    encoder.config.layerdrop = 0.0  # decided per model by RowLayerDrop instead
    encoder.encoder.layers = nn.ModuleList([RowLayerDrop(x, i, p, rows) for i, x in enumerate(encoder.encoder.layers)])
    encoder._mask_hidden_states = _row_spec_augment(encoder, rows)


def _row_linear(x: torch.Tensor, rows: Rows, weight: str, bias: str) -> torch.Tensor:
    """x (B, T, in) @ W^T + b with each row's W (stacked transposed: (B, in, out)) and b."""
    return torch.baddbmm(rows.w(bias)[:, None, :].to(x.dtype), x, rows.w(weight).to(x.dtype))


def _row_adapter_hook(prefix: str, rows: Rows):
    down, up = prefix + "bottleneck_adapter.down.", prefix + "bottleneck_adapter.up."

    def hook(module: nn.Module, args: tuple, f: torch.Tensor) -> torch.Tensor:
        h = torch.relu(_row_linear(f, rows, down + "weight", down + "bias"))
        return f + _row_linear(h, rows, up + "weight", up + "bias")

    return hook


def _row_gate_hook(name: str, rows: Rows):
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        h = args[0] if args else kwargs["hidden_states"]
        gated = torch.sigmoid(rows.w(name)).to(h.dtype)[:, None, :] * h
        if args:
            return (gated, *args[1:]), kwargs
        return args, dict(kwargs, hidden_states=gated)

    return hook


def head_names(names: Sequence[str]) -> list[tuple[str, str]]:
    """(weight, bias) names of the head's linear layers, in order (`make_head`'s kinds: a
    Linear, or Linears with a ReLU between each two)."""
    weights = [n for n in names if n.startswith("head.") and n.endswith(".weight")]
    return [(w, w[: -len("weight")] + "bias") for w in weights]


def row_head(x: torch.Tensor, rows: Rows, layers: Sequence[tuple[str, str]]) -> torch.Tensor:
    """The head of each row's model on its pooled vector: (B, D) -> (B, C)."""
    h = x[:, None, :]
    for j, (w, b) in enumerate(layers):
        h = _row_linear(h, rows, w, b)
        if j < len(layers) - 1:
            h = torch.relu(h)
    return h[:, 0]
