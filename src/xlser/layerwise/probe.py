"""Layer-wise probes: one head per hidden layer and fold, all trained together.

Every head of an experiment (folds x layers; folds of equal training and validation size
share one stack) is a slice of stacked weights, (heads, in, out): one batched matmul per
head layer, one fused AdamW pass (torch's own kernel) per stacked tensor. Each head's loss
is its own mean cross-entropy and AdamW is element-wise, so every head follows exactly the
trajectory it would follow alone (same initialisation, same batch order). Each head keeps
its own early stopping (patience on validation loss) and its own best checkpoint (by
validation UA, as the study's code, or by validation loss); a head that has stopped is
dropped from the stacks (weights, optimiser state, features), so later steps compute only
the heads still training. Features are standardised per fold, layer and dimension with the
fold's training statistics (option).

Why stacked: on a CPU, 13 heads of one fold stepped one batch of 32 at a time are mostly
Python and kernel-launch overhead; 65 heads per step (5 folds) in a handful of large kernels
spend the time on arithmetic and memory traffic instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.adamw import adamw

from xlser.config import Optim
from xlser.device import torch_threads
from xlser.errors import InputError
from xlser.layerwise.heads import make_head
from xlser.metrics import scores

log = logging.getLogger(__name__)

INITS = ("per_layer", "shared")
SHUFFLES = ("every_epoch", "once")
PATIENCE_RESETS = ("improve", "tie")
BETAS = (0.9, 0.999)  # torch.optim.AdamW's defaults, as the study's code uses them


@dataclass(frozen=True)
class ProbeConfig:
    """The `probe:` section: optimiser settings, head kind (`linear`, or the study code's
    `mlp`), checkpoint selection (`val_ua` as the study's code, or `val_loss`), whether
    features are standardised with training statistics (the study's code does not), the
    heads' initialisation (`per_layer` seeds, or one `shared` by every layer as the study's
    code), the training order (drawn `every_epoch`, or `once` and kept as the study's code)
    and what resets the patience (a strictly lower validation loss, `improve`, or also an
    equal one, `tie`: the study's `<=`)."""

    optim: Optim
    head: str
    selection: str
    standardize: bool
    init: str
    shuffle: str
    patience_reset: str

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("init", self.init, INITS),
            ("shuffle", self.shuffle, SHUFFLES),
            ("patience_reset", self.patience_reset, PATIENCE_RESETS),
        ):
            if value not in allowed:
                raise ValueError(f"probe.{key}: '{value}' is not one of {allowed}")

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> ProbeConfig:
        """From the (schema-defaulted) `probe:` section."""
        return cls(
            Optim.from_section(section),
            str(section["head"]),
            str(section["selection"]),
            bool(section["standardize"]),
            str(section["init"]),
            str(section["shuffle"]),
            str(section["patience_reset"]),
        )


class BatchedHead(nn.Module):
    """`n` independent heads of one kind on `n` layers: (B, n, D) -> (B, n, C).

    Head i is initialised exactly as `make_head(kind, D, C)` after `torch.manual_seed(seeds[i])`.
    """

    def __init__(self, kind: str, dim: int, n_classes: int, seeds: Sequence[int]) -> None:
        super().__init__()
        heads = []
        for s in seeds:
            torch.manual_seed(int(s))
            heads.append(make_head(kind, dim, n_classes))
        linears = [[m for m in h.modules() if isinstance(m, nn.Linear)] for h in heads]
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([lin[j].weight.detach() for lin in linears])) for j in range(len(linears[0]))]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([lin[j].bias.detach() for lin in linears])) for j in range(len(linears[0]))]
        )

    @classmethod
    def from_stacked(cls, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]) -> BatchedHead:
        """A head holding given stacked weights (n, out, in) and biases (n, out); no initialisation."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.weights = nn.ParameterList([nn.Parameter(w) for w in weights])
        self.biases = nn.ParameterList([nn.Parameter(b) for b in biases])
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        last = len(self.weights) - 1
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.einsum("bli,loi->blo", h, w) + b
            if j < last:
                h = F.relu(h)
        return h


@dataclass
class ProbeResult:
    """Per layer: the best head (by the selection rule), its epoch count and validation scores."""

    head: BatchedHead
    mean: torch.Tensor
    std: torch.Tensor
    epochs: np.ndarray
    best_epoch: np.ndarray
    val_ua: np.ndarray
    val_loss: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class probabilities of every layer's best head: (N, layers, C)."""
        dev = self.mean.device
        x = (torch.as_tensor(X, dtype=torch.float32, device=dev) - self.mean) / self.std
        return torch.softmax(self.head(x), dim=-1).cpu().numpy()


class Patience:
    """Early stopping of `n` heads on validation loss: a head stops once `patience` epochs in
    a row did not reset its count. `reset="improve"` resets on a strictly lower loss than the
    best so far; `"tie"` also on an equal one (the study's code: `eval_loss <= lowest`)."""

    def __init__(self, n: int, patience: int, reset: str, device: torch.device | str = "cpu") -> None:
        if reset not in PATIENCE_RESETS:
            raise ValueError(f"patience reset '{reset}' is not one of {PATIENCE_RESETS}")
        self.patience, self.tie = int(patience), reset == "tie"
        self.best = torch.full((n,), float("inf"), device=device)
        self.bad = torch.zeros(n, dtype=torch.long, device=device)

    def update(self, loss: torch.Tensor) -> torch.Tensor:
        """Record one epoch's validation losses (n,); the mask of heads that stop now."""
        reset = loss <= self.best if self.tie else loss < self.best
        self.best = torch.where(reset, loss, self.best)
        self.bad = torch.where(reset, torch.zeros_like(self.bad), self.bad + 1)
        return self.bad >= self.patience

    def keep(self, idx: torch.Tensor) -> None:
        """Keep only the heads `idx` (the others have stopped)."""
        self.best, self.bad = self.best[idx], self.bad[idx]


def _ua_per_head(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """UA (mean recall over the classes present in y) of every head: pred, y (heads, N)."""
    total = torch.zeros(y.shape[0], device=y.device)
    present = torch.zeros(y.shape[0], device=y.device)
    for c in range(n_classes):
        m = y == c
        n_c = m.sum(1)
        hits = (m & (pred == c)).sum(1)
        total += torch.where(n_c > 0, hits.float() / n_c.clamp(min=1).float(), torch.zeros_like(total))
        present += (n_c > 0).float()
    return total / present


#: a first head layer with fewer outputs than this keeps nn.Linear's (out, in) layout and computes
#: transposed (W @ x^T): on a CPU that halves the time of a linear probe's matmuls (768 -> 4),
#: while wide layers (768 -> 128) are faster as x @ W
NARROW = 32


def _forward(params: Sequence[torch.Tensor], x: torch.Tensor, narrow_first: bool) -> torch.Tensor:
    """Stacked heads on stacked inputs: params alternate weight (H, in, out) and bias
    (H, 1, out), the first pair (H, out, in) and (H, out, 1) when `narrow_first`;
    x (H, B, in) -> logits (H, B, C)."""
    h = x
    last = len(params) // 2 - 1
    for j in range(last + 1):
        if j == 0 and narrow_first:
            h = torch.baddbmm(params[1], params[0], h.transpose(1, 2)).transpose(1, 2)
        else:
            h = torch.baddbmm(params[2 * j + 1], h, params[2 * j])
        if j < last:
            h = F.relu(h)
    return h


def initial_head(cfg: ProbeConfig, dim: int, n_classes: int, layer_ids: Sequence[int]) -> BatchedHead:
    """The heads' starting point: layer i's head seeded with `seed + layer_ids[i]`
    (`probe.init: per_layer`), or every layer's the head seeded with `seed` (`shared`, the
    study's code: one initial model loaded for every layer)."""
    seed = cfg.optim.seed
    seeds = [seed + i for i in layer_ids] if cfg.init == "per_layer" else [seed] * len(layer_ids)
    return BatchedHead(cfg.head, dim, n_classes, seeds)


def training_orders(n: int, seed: int, shuffle: str) -> Iterator[torch.Tensor]:
    """The training rows' order of each epoch, from a generator seeded with `seed`: a new
    permutation every epoch (`every_epoch`), or the first one kept for every epoch (`once`,
    the study's code: its per-layer loader does not shuffle)."""
    if shuffle not in SHUFFLES:
        raise ValueError(f"shuffle '{shuffle}' is not one of {SHUFFLES}")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    while True:
        yield perm
        if shuffle == "every_epoch":
            perm = torch.randperm(n, generator=gen)


Fold = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # X_train (N, L, D), y_train, X_val, y_val


def train_probes(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    cfg: ProbeConfig,
    device: torch.device | str = "cpu",
    layer_ids: Sequence[int] | None = None,
    threads: int = 1,
) -> ProbeResult:
    """Train one head per layer of `X_*` (N, L, D) with labels 0..n_classes-1 (one fold of
    `train_probe_folds`)."""
    return train_probe_folds([(X_train, y_train, X_val, y_val)], n_classes, cfg, device, layer_ids, threads)[0]


def train_probe_folds(
    folds: Sequence[Fold],
    n_classes: int,
    cfg: ProbeConfig,
    device: torch.device | str = "cpu",
    layer_ids: Sequence[int] | None = None,
    threads: int = 1,
) -> list[ProbeResult]:
    """Train one head per layer and fold (see module docstring); one result per fold, in order.

    `layer_ids` name the layers (default 0..L-1). With `probe.init: per_layer` head i is
    seeded with `cfg.optim.seed + layer_ids[i]` in every fold, so training layer k alone
    (`layer_ids=[k]`) reproduces the batched head k; with `shared`, every head starts from
    the head seeded with `cfg.optim.seed`. The training order is a permutation drawn from a
    generator seeded with `cfg.optim.seed`: a new one every epoch, or the first kept
    (`probe.shuffle: once`); every head of a fold sees the same order. Folds whose training
    and validation sizes match train in one stack (the numbers of training them apart, to
    float rounding: tests/layerwise/test_probe.py).

    On CPU the probes train with `threads` torch threads (config `torch_threads`, default 1),
    never the job's cores, so the numbers do not depend on `--cores`.
    """
    if not folds:
        return []
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (X_tr, y_tr, X_va, y_va) in enumerate(folds):
        if len(X_tr) != len(y_tr) or len(X_va) != len(y_va):
            raise ValueError(
                f"fold {i}: {len(X_tr)} training rows for {len(y_tr)} labels, "
                f"{len(X_va)} validation rows for {len(y_va)} labels"
            )
        groups.setdefault((len(y_tr), len(y_va)), []).append(i)
    out: list[ProbeResult | None] = [None] * len(folds)
    with torch_threads(threads) if torch.device(device).type == "cpu" else contextlib.nullcontext():
        for members in groups.values():
            for i, res in zip(
                members, _train_stack([folds[i] for i in members], n_classes, cfg, torch.device(device), layer_ids)
            ):
                out[i] = res
    return out  # type: ignore[return-value]


@dataclass
class _Stack:
    """The stacked heads' data, fold-major (head g = fold * L + layer): features (heads, N, D)
    float32, contiguous per head and standardised per fold, labels (heads, N), and each fold's
    statistics (1, L, D) as `ProbeResult.predict_proba` applies them."""

    x: torch.Tensor
    y: torch.Tensor
    xva: torch.Tensor
    yva: torch.Tensor
    means: list[torch.Tensor]
    stds: list[torch.Tensor]

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the stack rows `rows`."""
        self.x, self.y, self.xva, self.yva = self.x[rows], self.y[rows], self.xva[rows], self.yva[rows]


def _stack_folds(folds: Sequence[Fold], n_layers: int, dim: int, standardize: bool, dev: torch.device) -> _Stack:
    """Copy every fold's features into the stack in one pass (float32, each head's rows
    contiguous, so a batch is a slice or one gather), standardised with the fold's training
    statistics when `standardize`."""
    n, n_heads = len(folds[0][0]), len(folds) * n_layers
    means, stds = [], []
    x = torch.empty((n_heads, n, dim), dtype=torch.float32, device=dev)
    xva = torch.empty((n_heads, len(folds[0][3]), dim), dtype=torch.float32, device=dev)
    for f, (X_tr, _, X_va, _) in enumerate(folds):
        xf = torch.as_tensor(np.asarray(X_tr), device=dev)
        if xf.shape[1:] != (n_layers, dim) or tuple(X_va.shape[1:]) != (n_layers, dim):
            raise ValueError(
                f"fold {f}: features of shape {tuple(xf.shape[1:])} / {tuple(X_va.shape[1:])}, "
                f"expected (layers, dim) = {(n_layers, dim)} as fold 0"
            )
        rows = slice(f * n_layers, (f + 1) * n_layers)
        x[rows] = xf.transpose(0, 1)  # one pass: float32, contiguous per head
        xva[rows] = torch.as_tensor(np.asarray(X_va), device=dev).transpose(0, 1)
        if standardize:
            mean = x[rows].mean(1, keepdim=True).transpose(0, 1)  # (1, L, D), as predict_proba takes it
            std = x[rows].std(1, keepdim=True).clamp(min=1e-5).transpose(0, 1)
            x[rows].sub_(mean.transpose(0, 1)).div_(std.transpose(0, 1))
            xva[rows].sub_(mean.transpose(0, 1)).div_(std.transpose(0, 1))
        else:
            mean = torch.zeros((1, n_layers, dim), device=dev)
            std = torch.ones((1, n_layers, dim), device=dev)
        means.append(mean.contiguous())
        stds.append(std.contiguous())
        del xf
    y = torch.stack([torch.as_tensor(np.asarray(f[1]), dtype=torch.long) for f in folds]).to(dev)
    y = y.repeat_interleave(n_layers, dim=0)  # (heads, N)
    yva = torch.stack([torch.as_tensor(np.asarray(f[3]), dtype=torch.long) for f in folds]).to(dev)
    yva = yva.repeat_interleave(n_layers, dim=0)
    return _Stack(x, y, xva, yva, means, stds)


@dataclass
class _AdamW:
    """The stacked heads' parameters and their AdamW state, stepped by torch's own (fused)
    kernel: params alternate weight and bias as `_forward` takes them."""

    params: list[torch.Tensor]
    narrow: bool  # the first layer kept (out, in) (see NARROW)
    fused: bool
    exp_avg: list[torch.Tensor] = field(init=False)
    exp_avg_sq: list[torch.Tensor] = field(init=False)
    steps: list[torch.Tensor] = field(init=False)

    def __post_init__(self) -> None:
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        dev = self.params[0].device
        self.steps = [torch.zeros((), dtype=torch.float32, device=dev) for _ in self.params]

    @classmethod
    def stacked(cls, init: BatchedHead, n_folds: int, dev: torch.device) -> _AdamW:
        """Every fold's copy of the initial heads, fold-major."""
        narrow = init.weights[0].shape[1] < NARROW
        params: list[torch.Tensor] = []
        for j, (w, b) in enumerate(zip(init.weights, init.biases)):
            if j == 0 and narrow:  # (heads, out, in), (heads, out, 1)
                w, b = w.detach(), b.detach()[:, :, None]
            else:  # (heads, in, out), (heads, 1, out)
                w, b = w.detach().transpose(1, 2), b.detach()[:, None, :]
            params.append(w.repeat(n_folds, 1, 1).contiguous().to(dev).requires_grad_())
            params.append(b.repeat(n_folds, 1, 1).contiguous().to(dev).requires_grad_())
        return cls(params, narrow, dev.type in ("cpu", "cuda"))

    def step(self, grads: Sequence[torch.Tensor], o: Optim) -> None:
        with torch.no_grad():
            adamw(
                self.params,
                list(grads),
                self.exp_avg,
                self.exp_avg_sq,
                [],
                self.steps,
                foreach=False,
                fused=self.fused,
                amsgrad=False,
                beta1=BETAS[0],
                beta2=BETAS[1],
                lr=o.lr,
                weight_decay=o.weight_decay,
                eps=o.eps,
                maximize=False,
            )

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the stack rows `rows` (parameters and moments)."""
        self.params = [p.detach()[rows].requires_grad_() for p in self.params]
        self.exp_avg, self.exp_avg_sq = [m[rows] for m in self.exp_avg], [v[rows] for v in self.exp_avg_sq]


@dataclass
class _Heads:
    """Which heads still train and every head's best checkpoint so far.

    The stack (features, labels, parameters and moments) holds the heads `kept` (stack row ->
    head); the heads still training are kept[act] (= active). A stopped head stays in the stack
    and keeps stepping, unseen (its checkpoint is in `best`; heads are independent, so it changes
    no other head's numbers), until fewer than 3/4 of the kept heads train: then the stack is
    compacted. So a batch is a view of x with `once` (no copy) and one gather otherwise, never a
    copy of the features per epoch in which a head stops.
    """

    best: list[torch.Tensor]  # every head's best checkpoint (all heads, fixed rows), as params
    patience: Patience
    n_layers: int
    max_epochs: int
    active: torch.Tensor = field(init=False)  # stack row -> head, of the heads still training
    kept: torch.Tensor = field(init=False)
    act: torch.Tensor = field(init=False)
    best_score: torch.Tensor = field(init=False)
    best_val_ua: torch.Tensor = field(init=False)
    best_val_loss: torch.Tensor = field(init=False)
    epochs: np.ndarray = field(init=False)
    best_epoch: np.ndarray = field(init=False)
    history: list[list[dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        n_heads, dev = len(self.patience.best), self.best[0].device
        self.active = torch.arange(n_heads, device=dev)
        self.kept = self.active
        self.act = torch.arange(n_heads, device=dev)
        self.best_score = torch.full((n_heads,), -float("inf"), device=dev)
        self.best_val_ua = torch.zeros(n_heads, device=dev)
        self.best_val_loss = torch.zeros(n_heads, device=dev)
        self.epochs = np.full(n_heads, self.max_epochs)
        self.best_epoch = np.zeros(n_heads, dtype=int)
        self.history = [[] for _ in range(n_heads // self.n_layers)]

    def check_finite(self, epoch: int, vloss: torch.Tensor) -> None:
        """A diverged head (or a non-finite feature) is an error naming fold and layer, never a
        NaN that selection and early stopping would silently treat as a number."""
        if bool(torch.isfinite(vloss).all()):
            return
        bad = self.active[~torch.isfinite(vloss)].cpu().numpy()
        heads = ", ".join(f"fold {r // self.n_layers} layer {r % self.n_layers}" for r in bad[:5])
        raise InputError(
            None,
            f"probe epoch {epoch + 1}: the validation loss of {len(bad)} head(s) is NaN "
            f"or inf ({heads}): a head diverged or a feature is not finite; lower "
            f"probe.lr or set probe.standardize: true",
        )

    def record(self, epoch: int, vloss: torch.Tensor, vua: torch.Tensor) -> None:
        """Each fold's validation curve of this epoch (a stopped head's entries are NaN)."""
        n_layers = self.n_layers
        rows, vloss_np, vua_np = self.active.cpu().numpy(), vloss.cpu().numpy(), vua.cpu().numpy()
        for f, hist in enumerate(self.history):
            mine = (rows >= f * n_layers) & (rows < (f + 1) * n_layers)
            loss_f, ua_f = np.full(n_layers, np.nan), np.full(n_layers, np.nan)
            loss_f[rows[mine] - f * n_layers] = vloss_np[mine]
            ua_f[rows[mine] - f * n_layers] = vua_np[mine]
            hist.append({"epoch": epoch + 1, "val_loss": loss_f, "val_ua": ua_f})

    def checkpoint(
        self, epoch: int, score: torch.Tensor, vua: torch.Tensor, vloss: torch.Tensor, params: Sequence[torch.Tensor]
    ) -> None:
        """Keep the checkpoint of every head whose selection score beat its best so far."""
        better = score > self.best_score
        if better.any():
            heads = self.active[better]
            for b, p in zip(self.best, params):
                b[heads] = p.detach()[self.act[better]]
            self.best_score = torch.where(better, score, self.best_score)
            self.best_val_ua[heads] = vua[better]
            self.best_val_loss[heads] = vloss[better]
            self.best_epoch[heads.cpu().numpy()] = epoch + 1

    def stop(self, epoch: int, vloss: torch.Tensor) -> bool:
        """Early stopping on validation loss: the heads out of patience stop training; True when
        every head has stopped."""
        stop = self.patience.update(vloss)
        if not stop.any():
            return False
        self.epochs[self.active[stop].cpu().numpy()] = epoch + 1
        keep = (~stop).nonzero().squeeze(1)
        if len(keep) == 0:
            return True
        self.active, self.best_score, self.act = self.active[keep], self.best_score[keep], self.act[keep]
        self.patience.keep(keep)
        return False

    def compaction(self) -> torch.Tensor | None:
        """The stack rows to keep once fewer than 3/4 of the kept heads still train (the stack
        is then compacted to the heads still training), else None."""
        if len(self.act) >= 0.75 * len(self.kept):
            return None
        rows = self.act
        self.kept = self.kept[rows]
        self.act = torch.arange(len(self.kept), device=rows.device)
        return rows


def _train_epoch(
    data: _Stack, opt: _AdamW, order: torch.Tensor | None, buffer: torch.Tensor | None, n_classes: int, o: Optim
) -> None:
    """One pass over the training rows in batches, every kept head on the same rows: with one
    order for every epoch (`order` None, rows stored in it) a batch is a view of the features,
    else one gather into `buffer` (reused by every step)."""
    x, y = data.x, data.y
    n_kept, n, dim = x.shape
    offsets = torch.arange(n_kept, device=x.device)[:, None] * n  # each kept head's rows of x.view(-1, dim)
    flat = x.view(-1, dim)
    for start in range(0, n, o.batch_size):
        if order is None:  # a view: no copy
            xb, yb = x[:, start : start + o.batch_size], y[:, start : start + o.batch_size]
        else:
            assert buffer is not None
            idx = order[start : start + o.batch_size]
            rows = n_kept * len(idx)
            xb = torch.index_select(flat, 0, (offsets + idx).view(-1), out=buffer[: rows * dim].view(rows, dim))
            xb, yb = xb.view(n_kept, len(idx), dim), y.index_select(1, idx)
        logits = _forward(opt.params, xb, opt.narrow)
        loss = F.cross_entropy(logits.reshape(-1, n_classes), yb.reshape(-1), reduction="sum") / yb.shape[1]
        opt.step(torch.autograd.grad(loss, opt.params), o)


@torch.no_grad()
def _validate(data: _Stack, opt: _AdamW, act: torch.Tensor, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validation loss and UA of the heads still training (stack rows `act`)."""
    logits = _forward(opt.params, data.xva, opt.narrow)[act]
    vloss = F.cross_entropy(logits.permute(0, 2, 1), data.yva[act], reduction="none").mean(1)
    vua = _ua_per_head(logits.argmax(-1), data.yva[act], n_classes)
    return vloss, vua


def _results(heads: _Heads, data: _Stack, narrow: bool) -> list[ProbeResult]:
    """Each fold's best heads, back in `BatchedHead`'s layout, with their statistics and curves."""
    n_layers = heads.n_layers
    results = []
    for f, history in enumerate(heads.history):
        rows = slice(f * n_layers, (f + 1) * n_layers)
        best = heads.best
        weights = [
            w[rows] if j == 0 and narrow else w[rows].transpose(1, 2).contiguous() for j, w in enumerate(best[0::2])
        ]
        head = BatchedHead.from_stacked(weights, [b[rows].reshape(n_layers, -1) for b in best[1::2]]).eval()
        results.append(
            ProbeResult(
                head,
                data.means[f],
                data.stds[f],
                heads.epochs[rows].copy(),
                heads.best_epoch[rows].copy(),
                heads.best_val_ua[rows].cpu().numpy(),
                heads.best_val_loss[rows].cpu().numpy(),
                history,
            )
        )
    return results


def _train_stack(
    folds: Sequence[Fold], n_classes: int, cfg: ProbeConfig, dev: torch.device, layer_ids: Sequence[int] | None
) -> list[ProbeResult]:
    """Every layer's head of folds with equal sizes, stacked fold-major: head g = fold * L + layer."""
    n, n_layers, dim = folds[0][0].shape
    layer_ids = list(range(n_layers)) if layer_ids is None else list(layer_ids)
    if len(layer_ids) != n_layers:
        raise ValueError(f"{len(layer_ids)} layer ids for features of {n_layers} layers")
    o = cfg.optim
    data = _stack_folds(folds, n_layers, dim, cfg.standardize, dev)
    opt = _AdamW.stacked(initial_head(cfg, dim, n_classes, layer_ids), len(folds), dev)
    n_heads = len(folds) * n_layers
    best = [p.detach().clone() for p in opt.params]  # every head's best checkpoint (all heads, fixed rows)
    heads = _Heads(best, Patience(n_heads, o.patience, cfg.patience_reset, dev), n_layers, o.max_epochs)
    orders = training_orders(n, o.seed, cfg.shuffle)
    once = cfg.shuffle == "once"
    if once:  # one order for every epoch: store the rows in it, so a batch is a slice of every head's rows
        perm = next(orders).to(dev)
        data.x, data.y = data.x.index_select(1, perm), data.y.index_select(1, perm)
    # the gathered batch (a new order per epoch), reused per step
    buffer = None if once else torch.empty(n_heads * min(o.batch_size, n) * dim, dtype=torch.float32, device=dev)
    for epoch in range(o.max_epochs):
        _train_epoch(data, opt, None if once else next(orders).to(dev), buffer, n_classes, o)
        vloss, vua = _validate(data, opt, heads.act, n_classes)
        heads.check_finite(epoch, vloss)
        heads.record(epoch, vloss, vua)
        heads.checkpoint(epoch, vua if cfg.selection == "val_ua" else -vloss, vua, vloss, opt.params)
        if heads.stop(epoch, vloss):
            break
        rows = heads.compaction()
        if rows is not None:
            opt.keep(rows)
            data.keep(rows)
    return _results(heads, data, opt.narrow)


@dataclass(frozen=True)
class _Side:
    """One corpus of an experiment: its pooled features, their row per utterance, its labels."""

    X: np.ndarray
    index: dict[str, int]
    emotion: pd.Series

    @classmethod
    def of(cls, feats: tuple[np.ndarray, np.ndarray], manifest: pd.DataFrame) -> _Side:
        ids, X = feats
        return cls(X, {u: i for i, u in enumerate(ids)}, manifest.set_index("utt_id")["emotion"])

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        return self.X[[self.index[u] for u in ids]]


def _fold_inputs(
    train: _Side,
    test: _Side,
    train_splits: pd.DataFrame,
    test_splits: pd.DataFrame,
    lab: dict[str, int],
    val_on: str,
) -> tuple[list[Any], list[Fold], list[list[str]]]:
    """Per fold of the train corpus: the probes' training and validation data and the test ids
    (the test corpus's test partition of the same fold)."""
    fold_ids = sorted(train_splits["fold"].unique())
    inputs, tests = [], []
    for fold in fold_ids:
        part = train_splits[train_splits["fold"] == fold]
        tr = part[part["partition"] == "train"]["utt_id"].tolist()
        test_part = test_splits[test_splits["fold"] == fold]
        te = test_part[test_part["partition"] == "test"]["utt_id"].tolist()
        if not te:
            raise ValueError(f"fold {fold} of the train corpus has no test fold in the test corpus splits")
        if val_on == "target":
            va = test_part[test_part["partition"] == "val"]["utt_id"].tolist()
            X_va, y_va = test.rows(va), np.array([lab[e] for e in test.emotion[va]])
        else:
            va = part[part["partition"] == "val"]["utt_id"].tolist()
            X_va, y_va = train.rows(va), np.array([lab[e] for e in train.emotion[va]])
        inputs.append((train.rows(tr), np.array([lab[e] for e in train.emotion[tr]]), X_va, y_va))
        tests.append(te)
    return fold_ids, inputs, tests


def _layer_scores(
    fold_ids: Sequence[Any],
    tests: Sequence[list[str]],
    results: Sequence[ProbeResult],
    test: _Side,
    classes: list[str],
    info: dict[str, str],
) -> tuple[pd.DataFrame, dict[Any, tuple[list[str], np.ndarray, np.ndarray]]]:
    """Every fold's and layer's test scores (with its epochs and validation scores), and each
    fold's test ids, labels and class probabilities (N, L, C) for the predictions."""
    rows, probs_by_fold = [], {}
    for fold, te, res in zip(fold_ids, tests, results):
        y_te = test.emotion[te].to_numpy()
        proba = res.predict_proba(test.rows(te))  # (N, L, C)
        probs_by_fold[fold] = (te, y_te, proba)
        for layer in range(proba.shape[1]):
            pred = [classes[i] for i in proba[:, layer].argmax(-1)]
            s = scores(y_te, pred, classes)
            rows.append(
                {
                    **info,
                    "fold": int(fold),
                    "layer": layer,
                    **s,
                    "epochs": int(res.epochs[layer]),
                    "val_ua": float(res.val_ua[layer]),
                    "val_loss": float(res.val_loss[layer]),
                }
            )
        log.info(
            "fold %s: best val UA %.3f at layer %d; test UA there %.3f",
            fold,
            res.val_ua.max(),
            int(res.val_ua.argmax()),
            rows[-proba.shape[1] + int(res.val_ua.argmax())]["ua"],
        )
    return pd.DataFrame(rows), probs_by_fold


def _predictions(
    probs_by_fold: Mapping[Any, tuple[list[str], np.ndarray, np.ndarray]],
    layer: int,
    classes: list[str],
    info: dict[str, str],
) -> pd.DataFrame:
    """Every fold's test predictions of one layer, with the class probabilities."""
    preds = []
    for fold, (te, y_te, proba) in probs_by_fold.items():
        p = proba[:, layer]
        block = pd.DataFrame(
            {
                **info,
                "fold": int(fold),
                "layer": layer,
                "utt_id": te,
                "true": y_te,
                "pred": [classes[i] for i in p.argmax(-1)],
            }
        )
        for i, c in enumerate(classes):
            block[f"p_{c}"] = p[:, i].round(6)
        preds.append(block)
    return pd.concat(preds, ignore_index=True)


def probe_experiment(
    train_feats: tuple[np.ndarray, np.ndarray],
    test_feats: tuple[np.ndarray, np.ndarray],
    train_manifest: pd.DataFrame,
    test_manifest: pd.DataFrame,
    train_splits: pd.DataFrame,
    test_splits: pd.DataFrame,
    emotions: Sequence[str],
    cfg: ProbeConfig,
    info: dict[str, str],
    device: torch.device | str = "cpu",
    val_on: str = "source",
    threads: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All folds of one (model, train, test) experiment, trained together (`train_probe_folds`).

    Returns the per-fold, per-layer scores and the test predictions of the layer with the
    best mean validation UA over folds (never chosen by test UA). Validation data come from
    the train corpus (`val_on="source"`) or, as in the study's cross-lingual runs, from the
    test corpus's validation partition of the same fold (`"target"`; the same corpus when
    train = test). `threads`: torch threads the CPU training computes with (config
    `torch_threads`).
    """
    if val_on not in ("source", "target"):
        raise ValueError(f"val_on must be 'source' or 'target', not {val_on!r}")
    classes = list(emotions)
    lab = {e: i for i, e in enumerate(classes)}
    train, test = _Side.of(train_feats, train_manifest), _Side.of(test_feats, test_manifest)
    fold_ids, inputs, tests = _fold_inputs(train, test, train_splits, test_splits, lab, val_on)
    results = train_probe_folds(inputs, len(classes), cfg, device, threads=threads)
    del inputs
    df, probs_by_fold = _layer_scores(fold_ids, tests, results, test, classes, info)
    best_layer = int(df.groupby("layer")["val_ua"].mean().idxmax())
    return df, _predictions(probs_by_fold, best_layer, classes, info)
