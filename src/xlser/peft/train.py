"""Fine-tuning one (model, train, test, strategy, fold) job, with checkpoint and resume.

AdamW (the layer-wise stage's settings), early stopping on validation loss with patience,
the weights kept are those of the best validation UA (never test), gradient clipping,
mixed precision on CUDA. Every epoch the whole training state is written atomically to
the job's checkpoint folder; a killed job started again continues from its last epoch and,
on CPU, ends with the numbers of an uninterrupted run. The checkpoint is deleted once the
outputs are written (it is no output: a fresh run must not pick up a finished state).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import metrics
from ..device import resolve_device
from ..errors import InputError
from ..io import atomic_path, write_csv, write_json
from ..models import load_encoder, load_feature_extractor
from .data import Collator, Partition, batches, corpus_files, load_partition
from .modules import PeftSER, build_model, count_params

log = logging.getLogger(__name__)
CKPT = "last.pt"


@dataclass
class Optim:
    """The `peft:` config section's training settings."""

    batch_size: int = 16
    lr: float = 1e-3
    eps: float = 1e-8
    weight_decay: float = 1e-5
    max_epochs: int = 100
    patience: int = 10
    grad_clip: float = 1.0
    seed: int = 0
    max_batch_seconds: float = 160.0
    cache_features: bool = True

    @classmethod
    def from_config(cls, peft: dict[str, Any]) -> Optim:
        names = cls.__dataclass_fields__
        return cls(**{k: type(getattr(cls, k))(v) for k, v in peft.items() if k in names})


def best_layer(path: str | Path, model: str, train: str, test: str, setting: str | None = None) -> int:
    """Layer k of this experiment from best_layers.csv (chosen there by validation UA)."""
    if not Path(path).is_file():
        raise InputError(path, "file not found: run the layer-wise stage first")
    df = pd.read_csv(path, dtype=str)
    need = {"model", "train", "test", "layer"}
    if not need <= set(df.columns):
        raise InputError(path, f"expected columns {sorted(need)}", line=1)
    hit = df[(df["model"] == model) & (df["train"] == train) & (df["test"] == test)]
    if setting is not None and "setting" in hit and len(hit) > 1:
        hit = hit[hit["setting"] == setting]
    if hit.empty:
        raise InputError(path, f"no row for model={model}, train={train}, test={test}: run the layer-wise stage "
                               "for this experiment")
    value = hit["layer"].iloc[0]
    try:
        return int(float(value))
    except ValueError:
        raise InputError(path, f"layer '{value}' is not an integer", line=int(hit.index[0]) + 2) from None


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _autocast(device: torch.device):
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


@torch.no_grad()
def predict(model: PeftSER, part: Partition, collate: Collator, opt: Optim,
            device: torch.device) -> tuple[np.ndarray, float]:
    """Class probabilities (rows in the partition's order) and the mean cross-entropy."""
    model.eval()
    probs = np.zeros((len(part), model.n_classes), dtype=np.float64)
    loss = 0.0
    for idx in batches(part, opt.batch_size, opt.max_batch_seconds):
        b = _to(collate(part, idx), device)
        _key(model, part, idx)
        with _autocast(device):
            logits = model(b["input_values"], b["lengths"], b["attention_mask"]).float()
        loss += F.cross_entropy(logits, b["labels"], reduction="sum").item()
        probs[idx] = torch.softmax(logits, -1).cpu().numpy()
    return probs, loss / max(1, len(part))


def _key(model: PeftSER, part: Partition, idx: list[int]) -> None:
    if model.features is not None:
        model.features.key = (part.name, tuple(idx))


def _fingerprint(**kw: Any) -> str:
    return hashlib.sha256(json.dumps(kw, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Trainer:
    """Epoch loop over one or two stages with early stopping, best-by-val-UA weights, checkpoints."""

    def __init__(self, model: PeftSER, opt: Optim, device: torch.device, collate: Collator,
                 checkpoint_dir: str | Path | None, fingerprint: str, labels: Sequence[str]):
        self.model, self.opt, self.device, self.collate = model, opt, device, collate
        self.labels = list(labels)
        self.ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.fingerprint = fingerprint
        params = [p for p in model.parameters() if p.requires_grad]
        self.params = params
        self.optimizer = torch.optim.AdamW(params, lr=opt.lr, eps=opt.eps, weight_decay=opt.weight_decay)
        # constant learning rate, as the study; kept as a scheduler so a schedule can be added without
        # changing the checkpoint format
        self.scheduler = torch.optim.lr_scheduler.ConstantLR(self.optimizer, factor=1.0, total_iters=0)
        use_scaler = device.type == "cuda" and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.state: dict[str, Any] = {"stage": 0, "epoch": 0, "total_epochs": 0, "best_ua": -1.0,
                                      "best_loss": math.inf, "bad": 0, "best_epoch": 0, "best_state": None,
                                      "history": [], "wall_time_s": 0.0, "stage_epochs": []}
        self.resumed_from: int | None = None

    # ---- checkpoint
    def _save(self) -> None:
        if self.ckpt_dir is None:
            return
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        blob = {"fingerprint": self.fingerprint, "model": self.model.trainable_state(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "state": self.state, "rng": _rng_state()}
        with atomic_path(self.ckpt_dir / CKPT) as tmp:
            torch.save(blob, tmp)
        write_json({k: self.state[k] for k in ("stage", "epoch", "total_epochs", "best_ua", "bad", "best_epoch")},
                   self.ckpt_dir / "progress.json")

    def try_resume(self) -> bool:
        """Load the job's last checkpoint if it belongs to this exact job configuration."""
        path = self.ckpt_dir / CKPT if self.ckpt_dir else None
        if path is None or not path.is_file():
            return False
        blob = torch.load(path, map_location=self.device, weights_only=False)
        if blob.get("fingerprint") != self.fingerprint:
            log.warning("checkpoint %s is from a different configuration; starting afresh", path)
            return False
        self.model.load_trainable_state(blob["model"])
        self.optimizer.load_state_dict(blob["optimizer"])
        self.scheduler.load_state_dict(blob["scheduler"])
        self.scaler.load_state_dict(blob["scaler"])
        self.state = blob["state"]
        _set_rng_state(blob["rng"])
        self.resumed_from = self.state["total_epochs"]
        log.info("resumed from %s: stage %d, epoch %d", path, self.state["stage"], self.state["epoch"])
        return True

    def clear(self) -> None:
        if self.ckpt_dir is not None and self.ckpt_dir.exists():
            shutil.rmtree(self.ckpt_dir)

    # ---- training
    def _train_epoch(self, part: Partition, seed: int) -> float:
        self.model.train()
        total, n = 0.0, 0
        order = batches(part, self.opt.batch_size, self.opt.max_batch_seconds, seed=seed)
        for idx in tqdm(order, desc=f"train {part.name}", leave=False, mininterval=5):
            b = _to(self.collate(part, idx), self.device)
            _key(self.model, part, idx)
            with _autocast(self.device):
                logits = self.model(b["input_values"], b["lengths"], b["attention_mask"]).float()
            loss = F.cross_entropy(logits, b["labels"])
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            if self.opt.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.params, self.opt.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total += loss.item() * len(idx)
            n += len(idx)
        self.scheduler.step()
        return total / max(1, n)

    def fit(self, stages: Sequence[tuple[Partition, Partition]]) -> None:
        """Train each (train, val) stage until early stopping; a new stage resets early stopping
        and the best-weights record but keeps the optimiser (the study's two-stage recipe)."""
        s = self.state
        while s["stage"] < len(stages):
            train, val = stages[s["stage"]]
            t0 = time.perf_counter()
            while s["epoch"] < self.opt.max_epochs and s["bad"] < self.opt.patience:
                seed = self.opt.seed * 100003 + s["stage"] * 1009 + s["epoch"]
                tr_loss = self._train_epoch(train, seed)
                probs, val_loss = predict(self.model, val, self.collate, self.opt, self.device)
                y = val.table["label"].to_numpy()
                val_ua = metrics.ua(y, probs.argmax(1), range(len(self.labels)))
                s["epoch"] += 1
                s["total_epochs"] += 1
                if val_ua > s["best_ua"]:
                    s["best_ua"], s["best_epoch"], s["best_state"] = val_ua, s["epoch"], self.model.trainable_state()
                if val_loss < s["best_loss"]:
                    s["best_loss"], s["bad"] = val_loss, 0
                else:
                    s["bad"] += 1
                s["history"].append({"stage": s["stage"], "epoch": s["epoch"], "train_loss": tr_loss,
                                     "val_loss": val_loss, "val_ua": val_ua})
                log.info("stage %d epoch %d: train loss %.4f, val loss %.4f, val UA %.3f", s["stage"], s["epoch"],
                         tr_loss, val_loss, val_ua)
                s["wall_time_s"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                self._save()
            s["wall_time_s"] += time.perf_counter() - t0
            if s["stage"] + 1 < len(stages):
                s["stage_epochs"].append(s["epoch"])
                s.update(stage=s["stage"] + 1, epoch=0, best_ua=-1.0, best_loss=math.inf, bad=0, best_epoch=0,
                         best_state=None)
                self._save()
            else:
                s["stage_epochs"].append(s["epoch"])
                s["stage"] += 1
        self.model.load_trainable_state(s["best_state"])


def run_finetune(*, best_layers: str, source: str, manifests: Sequence[str], splits: Sequence[str],
                 model: str, train: str, test: str, strategy: str, fold: int, setting: str,
                 stage_corpus: str | None, peft: dict[str, Any], head: str, emotions: Sequence[str],
                 device: str, checkpoint_dir: str | None, out_metrics: str, out_predictions: str,
                 out_adapter: str) -> dict[str, Any]:
    """The whole job: layer k, model, data, training (with resume), test predictions, outputs."""
    t_start = time.perf_counter()
    opt = Optim.from_config(peft)
    dev = resolve_device(device)
    layer = best_layer(best_layers, model, train, test, setting)
    files = corpus_files(manifests, splits)
    for c in {train, test} | ({stage_corpus} if strategy == "two_stage" and stage_corpus else set()):
        if c not in files:
            raise InputError(None, f"no manifest/splits given for corpus {c} (have {sorted(files)})")
    part = {(c, p): load_partition(*files[c], fold, p, emotions)
            for c, p in [(train, "train"), (train, "val"), (test, "test")]}
    stages = [(part[train, "train"], part[train, "val"])]
    if strategy == "two_stage":
        if not stage_corpus:
            raise ValueError(f"two_stage needs the model-language corpus of {model} (models.{model}.lang)")
        stages.insert(0, (load_partition(*files[stage_corpus], fold, "train", emotions),
                          load_partition(*files[stage_corpus], fold, "val", emotions)))

    seed_everything(opt.seed)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(dev.type == "cpu", warn_only=True)
    try:
        return _run(**locals())  # the checks above, then the job with determinism restored afterwards
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _run(*, opt: Optim, dev: torch.device, layer: int, stages: list, part: dict, source: str, model: str,
         train: str, test: str, strategy: str, fold: int, setting: str, stage_corpus: str | None,
         peft: dict[str, Any], head: str, emotions: Sequence[str], checkpoint_dir: str | None, out_metrics: str,
         out_predictions: str, out_adapter: str, t_start: float, **_: Any) -> dict[str, Any]:
    from safetensors.torch import save_file

    encoder = load_encoder(source, "cpu")
    net = build_model(encoder, layer, strategy, len(emotions), head, peft.get("lora"), peft.get("adapter")).to(dev)
    if opt.cache_features:
        net.cache_features()
    trainable, total = count_params(net)
    log.info("%s %s %s->%s fold %d: layer %d, %d trainable of %d parameters, device %s", model, strategy, train,
             test, fold, layer, trainable, total, dev)
    collate = Collator(load_feature_extractor(source))
    fp = _fingerprint(source=source, layer=layer, strategy=strategy, peft=peft, head=head, emotions=list(emotions),
                      train=train, test=test, fold=fold, stage_corpus=stage_corpus,
                      data=[p.table["utt_id"].tolist() for st in stages for p in st])
    trainer = Trainer(net, opt, dev, collate, checkpoint_dir, fp, emotions)
    trainer.try_resume()
    trainer.fit(stages)

    test_part = part[test, "test"]
    probs, _ = predict(net, test_part, collate, opt, dev)
    y_true = test_part.table["emotion"].tolist()
    y_pred = [emotions[i] for i in probs.argmax(1)]
    sc = metrics.scores(y_true, y_pred, list(emotions))
    pred = pd.DataFrame({"utt_id": test_part.table["utt_id"].astype(str), "true": y_true, "pred": y_pred})
    for i, e in enumerate(emotions):
        pred[f"p_{e}"] = probs[:, i]
    s = trainer.state
    result = {"model": model, "setting": setting, "train": train, "test": test, "strategy": strategy,
              "fold": int(fold), "layer": layer, "ua": sc["ua"], "wa": sc["wa"], "macro_f1": sc["macro_f1"],
              "epochs": int(s["total_epochs"]), "best_epoch": int(s["best_epoch"]),
              "trainable_params": int(trainable), "total_params": int(total),
              "wall_time_s": float(s["wall_time_s"]),  # training time, summed over resumed runs
              "val_ua": float(s["best_ua"]), "stage_epochs": [int(e) for e in s["stage_epochs"]],
              "train_lang": stages[-1][0].lang, "test_lang": test_part.lang,
              "stage_corpus": stage_corpus if strategy == "two_stage" else None,
              "resumed_from_epoch": trainer.resumed_from, "device": str(dev)}
    result["job_wall_time_s"] = time.perf_counter() - t_start
    Path(out_adapter).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_adapter) as tmp:
        save_file({k: v.contiguous().cpu() for k, v in net.trainable_state().items()}, str(tmp),
                  metadata={"source": source, "layer": str(layer), "strategy": strategy, "head": head,
                            "emotions": ",".join(emotions)})
    write_csv(pred, out_predictions)
    write_json(result, out_metrics)
    trainer.clear()
    return result
