"""Layer-wise probes: one head per hidden layer, all layers trained together.

A `BatchedHead` holds every layer's head as slices of stacked weights; one forward/backward
pass and one AdamW step update all of them. Each layer's loss is its own mean
cross-entropy and AdamW is element-wise, so every layer follows exactly the trajectory it
would follow alone (same initialisation, same batch order). Each layer keeps its own early
stopping (patience on validation loss) and its own best checkpoint (by validation UA, as
the study's code, or by validation loss); after a layer has stopped, its later updates are
ignored. Features are standardised per layer and dimension with training statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from xlser.config import Optim
from xlser.device import torch_threads
from xlser.layerwise.heads import make_head
from xlser.metrics import scores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeConfig:
    """The `probe:` section: optimiser settings, head kind (`linear`, or the study code's
    `mlp`), checkpoint selection (`val_ua` as the study's code, or `val_loss`) and whether
    features are standardised with training statistics (the study's code does not)."""

    optim: Optim
    head: str
    selection: str
    standardize: bool

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> ProbeConfig:
        """From the (schema-defaulted) `probe:` section."""
        return cls(Optim.from_section(section), str(section["head"]), str(section["selection"]),
                   bool(section["standardize"]))


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
            [nn.Parameter(torch.stack([lin[j].weight.detach() for lin in linears])) for j in range(len(linears[0]))])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([lin[j].bias.detach() for lin in linears])) for j in range(len(linears[0]))])

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


def _ua_per_layer(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """UA (mean recall over classes present in y) for every layer: pred (N, L), y (N,)."""
    recalls = []
    for c in range(n_classes):
        m = y == c
        if m.any():
            recalls.append((pred[m] == c).float().mean(0))
    return torch.stack(recalls).mean(0)


def train_probes(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, n_classes: int,
                 cfg: ProbeConfig, device: torch.device | str = "cpu", layer_ids: Sequence[int] | None = None,
                 threads: int = 1) -> ProbeResult:
    """Train one head per layer of `X_*` (N, L, D) with labels 0..n_classes-1 (see module docstring).

    `layer_ids` name the layers (default 0..L-1); head i is seeded with `cfg.optim.seed + layer_ids[i]`,
    so training layer k alone (with `layer_ids=[k]`) reproduces the batched head k.

    On CPU the probes train with `threads` torch threads (config `torch_threads`, default 1),
    never the job's cores, so the numbers do not depend on `--cores`. One is also fast: the
    steps are tiny (32 x layers x dim), and OpenMP threads spinning against the other jobs of
    a busy machine made a step ~60x slower (measured: 23 ms vs 0.36 ms per 13-layer step on 2
    loaded cores).
    """
    if torch.device(device).type != "cpu":
        return _train_probes(X_train, y_train, X_val, y_val, n_classes, cfg, device, layer_ids)
    with torch_threads(threads):
        return _train_probes(X_train, y_train, X_val, y_val, n_classes, cfg, device, layer_ids)


def _train_probes(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, n_classes: int,
                  cfg: ProbeConfig, device: torch.device | str, layer_ids: Sequence[int] | None) -> ProbeResult:
    dev = torch.device(device)
    xtr = torch.as_tensor(X_train, dtype=torch.float32, device=dev)
    xva = torch.as_tensor(X_val, dtype=torch.float32, device=dev)
    ytr = torch.as_tensor(y_train, dtype=torch.long, device=dev)
    yva = torch.as_tensor(y_val, dtype=torch.long, device=dev)
    n, n_layers, dim = xtr.shape
    layer_ids = list(range(n_layers)) if layer_ids is None else list(layer_ids)
    if cfg.standardize:
        mean, std = xtr.mean(0, keepdim=True), xtr.std(0, keepdim=True).clamp(min=1e-5)
    else:
        mean, std = torch.zeros_like(xtr[:1]), torch.ones_like(xtr[:1])
    xtr, xva = (xtr - mean) / std, (xva - mean) / std
    o = cfg.optim
    head = BatchedHead(cfg.head, dim, n_classes, [o.seed + i for i in layer_ids]).to(dev)
    opt = torch.optim.AdamW(head.parameters(), lr=o.lr, eps=o.eps, weight_decay=o.weight_decay)
    best = [p.detach().clone() for p in head.parameters()]
    best_score = torch.full((n_layers,), -float("inf"), device=dev)
    best_loss = torch.full((n_layers,), float("inf"), device=dev)
    best_val_ua = torch.zeros(n_layers, device=dev)
    best_val_loss = torch.zeros(n_layers, device=dev)
    bad = torch.zeros(n_layers, dtype=torch.long, device=dev)
    active = torch.ones(n_layers, dtype=torch.bool, device=dev)
    epochs = np.full(n_layers, o.max_epochs)
    best_epoch = np.zeros(n_layers, dtype=int)
    gen = torch.Generator().manual_seed(o.seed)
    history = []
    for epoch in range(o.max_epochs):
        head.train()
        perm = torch.randperm(n, generator=gen).to(dev)
        for start in range(0, n, o.batch_size):
            idx = perm[start:start + o.batch_size]
            logits = head(xtr[idx])  # (B, L, C)
            target = ytr[idx][:, None].expand(-1, n_layers)
            loss = F.cross_entropy(logits.permute(0, 2, 1), target, reduction="none").mean(0).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            logits = head(xva)
            vloss = F.cross_entropy(logits.permute(0, 2, 1), yva[:, None].expand(-1, n_layers),
                                    reduction="none").mean(0)
            vua = _ua_per_layer(logits.argmax(-1), yva, n_classes)
        history.append({"epoch": epoch + 1, "val_loss": vloss.cpu().numpy(), "val_ua": vua.cpu().numpy()})
        improved_loss = (vloss < best_loss) & active
        best_loss = torch.where(improved_loss, vloss, best_loss)
        bad = torch.where(improved_loss, torch.zeros_like(bad), bad + active.long())
        score = vua if cfg.selection == "val_ua" else -vloss
        better = (score > best_score) & active
        if better.any():
            for b, p in zip(best, head.parameters()):
                b[better] = p.detach()[better]
            best_score = torch.where(better, score, best_score)
            best_val_ua = torch.where(better, vua, best_val_ua)
            best_val_loss = torch.where(better, vloss, best_val_loss)
            best_epoch[better.cpu().numpy()] = epoch + 1
        stop = active & (bad >= o.patience)
        epochs[stop.cpu().numpy()] = epoch + 1
        active &= ~stop
        if not active.any():
            break
    with torch.no_grad():
        for b, p in zip(best, head.parameters()):
            p.copy_(b)
    head.eval()
    return ProbeResult(head, mean, std, epochs, best_epoch, best_val_ua.cpu().numpy(), best_val_loss.cpu().numpy(),
                       history)


def _rows(X: np.ndarray, index: dict[str, int], ids: Sequence[str]) -> np.ndarray:
    return X[[index[u] for u in ids]]


def probe_experiment(train_feats: tuple[np.ndarray, np.ndarray], test_feats: tuple[np.ndarray, np.ndarray],
                     train_manifest: pd.DataFrame, test_manifest: pd.DataFrame, train_splits: pd.DataFrame,
                     test_splits: pd.DataFrame, emotions: Sequence[str], cfg: ProbeConfig,
                     info: dict[str, str], device: torch.device | str = "cpu", val_on: str = "source",
                     threads: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All folds of one (model, train, test) experiment.

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
    tr_ids, tr_X = train_feats
    te_ids, te_X = test_feats
    tr_index = {u: i for i, u in enumerate(tr_ids)}
    te_index = {u: i for i, u in enumerate(te_ids)}
    tr_emo = train_manifest.set_index("utt_id")["emotion"]
    te_emo = test_manifest.set_index("utt_id")["emotion"]
    rows, probs_by_fold = [], {}
    for fold in sorted(train_splits["fold"].unique()):
        part = train_splits[train_splits["fold"] == fold]
        tr = part[part["partition"] == "train"]["utt_id"].tolist()
        test_part = test_splits[test_splits["fold"] == fold]
        te = test_part[test_part["partition"] == "test"]["utt_id"].tolist()
        if not te:
            raise ValueError(f"fold {fold} of the train corpus has no test fold in the test corpus splits")
        if val_on == "target":
            va = test_part[test_part["partition"] == "val"]["utt_id"].tolist()
            X_va, y_va = _rows(te_X, te_index, va), np.array([lab[e] for e in te_emo[va]])
        else:
            va = part[part["partition"] == "val"]["utt_id"].tolist()
            X_va, y_va = _rows(tr_X, tr_index, va), np.array([lab[e] for e in tr_emo[va]])
        y_tr = np.array([lab[e] for e in tr_emo[tr]])
        y_te = te_emo[te].to_numpy()
        res = train_probes(_rows(tr_X, tr_index, tr), y_tr, X_va, y_va, len(classes), cfg, device,
                           threads=threads)
        proba = res.predict_proba(_rows(te_X, te_index, te))  # (N, L, C)
        probs_by_fold[fold] = (te, y_te, proba)
        for layer in range(proba.shape[1]):
            pred = [classes[i] for i in proba[:, layer].argmax(-1)]
            s = scores(y_te, pred, classes)
            rows.append({**info, "fold": int(fold), "layer": layer, **s, "epochs": int(res.epochs[layer]),
                         "val_ua": float(res.val_ua[layer]), "val_loss": float(res.val_loss[layer])})
        log.info("fold %s: best val UA %.3f at layer %d; test UA there %.3f", fold, res.val_ua.max(),
                 int(res.val_ua.argmax()), rows[-proba.shape[1] + int(res.val_ua.argmax())]["ua"])
    df = pd.DataFrame(rows)
    best_layer = int(df.groupby("layer")["val_ua"].mean().idxmax())
    preds = []
    for fold, (te, y_te, proba) in probs_by_fold.items():
        p = proba[:, best_layer]
        block = pd.DataFrame({**info, "fold": int(fold), "layer": best_layer, "utt_id": te, "true": y_te,
                              "pred": [classes[i] for i in p.argmax(-1)]})
        for i, c in enumerate(classes):
            block[f"p_{c}"] = p[:, i].round(6)
        preds.append(block)
    return df, pd.concat(preds, ignore_index=True)
