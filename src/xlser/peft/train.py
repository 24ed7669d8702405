"""Fine-tuning one (model, train, test, strategy, fold) job, with checkpoint and resume.

AdamW (`xlser.config.Optim`), early stopping on validation loss with patience, the weights
kept are those of the best validation UA (never test). The fine-tuning-only choices
(`Finetune`: layers kept, encoder mode, precision, gradient clipping, two-stage schedule,
validation corpus of cross-lingual runs, torch threads) are explicit; `config/paper.yaml`
sets the study's. Every epoch the whole training state is written atomically to the job's
checkpoint folder; a killed job started again continues from its last epoch and, on CPU,
ends with the numbers of an uninterrupted run. The checkpoint is deleted once the outputs
are written (it is no output: a fresh run must not pick up a finished state).

Resume or start over: a checkpoint is resumed only when its fingerprint matches, and the
fingerprint holds what this job computes with (its own settings and data, not the whole
`peft` section), the xlser code and library versions, and the size and modification time
of the job's input files, so a resume after a kill (inputs, code, settings untouched) is
told from a run after a change. A forced run (`-F`, `-R finetune`) passes `fresh_start`
(from `xlser.smk.forced_rerun`) and discards any checkpoint; `metrics.json` says whether a
run resumed (`resumed_from_epoch`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import random
import shutil
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from xlser import metrics
from xlser.config import Optim
from xlser.contracts import read_table
from xlser.data.manifest import read_manifest
from xlser.device import compute_threads, resolve_device, torch_threads
from xlser.errors import InputError, require_finite
from xlser.io import atomic_path, write_csv, write_json
from xlser.models.loading import load_encoder, load_feature_extractor
from xlser.peft.data import Collator, Partition, batches, corpus_files, load_partition
from xlser.peft.modules import PeftSER, build_model, count_params, layers_to_keep
from xlser.peft.settings import (
    BEST_COLUMN,
    SCHEDULES,
    Adapter,
    Finetune,
    Layer,
    Lora,
    best_layer,
    nothing_to_adapt,
    uses_adapters,
    uses_lora,
)

log = logging.getLogger(__name__)
CKPT = "last.pt"


def load_stimuli(manifest_path: str, listening_path: str, emotions: Sequence[str]) -> Partition:
    """The listening-test stimuli of a corpus (its `splits/{corpus}.listening.csv`) as a partition."""
    man = read_manifest(manifest_path).set_index("utt_id", drop=False)
    stim = read_table(listening_path, "listening")
    ids = stim["utt_id"].astype(str)
    missing = ~ids.isin(man.index)
    if missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputError(listening_path, f"stimulus '{ids.iloc[i]}' is not in {manifest_path}", line=i + 2)
    table = man.loc[ids].reset_index(drop=True)
    keep = table["emotion"].isin(list(emotions))
    if (~keep).any():
        log.warning(
            "%s: %d stimuli with emotions outside %s not scored", listening_path, int((~keep).sum()), list(emotions)
        )
    table = table[keep].reset_index(drop=True)
    table["label"] = table["emotion"].map({e: i for i, e in enumerate(emotions)}).astype(int)
    table["duration_s"] = pd.to_numeric(table["duration_s"]).astype(float)
    cols = ["utt_id", "path", "duration_s", "emotion", "label"] + [c for c in ("seg_start", "seg_end") if c in table]
    lang = str(table["lang"].iloc[0]) if len(table) and "lang" in table else ""
    return Partition(name=f"{Path(manifest_path).parent.name}:stimuli", table=table[cols], lang=lang)


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


def _half_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype: bf16 on CUDA where supported (fp16 with loss scaling otherwise); none in fp32 or on CPU."""
    if precision == "fp32" or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(device: torch.device, precision: str):
    dtype = _half_dtype(device, precision)
    return contextlib.nullcontext() if dtype is None else torch.autocast("cuda", dtype=dtype)


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def _key(model: PeftSER, part: Partition, idx: list[int]) -> None:
    if model.features is not None:
        model.features.key = (part.name, tuple(idx))


@torch.no_grad()
def predict(
    model: PeftSER,
    part: Partition,
    collate: Collator,
    batch_size: int,
    max_batch_seconds: float,
    device: torch.device,
    precision: str,
) -> tuple[np.ndarray, float]:
    """Class probabilities (rows in the partition's order) and the mean cross-entropy."""
    model.eval()
    probs = np.zeros((len(part), model.n_classes), dtype=np.float64)
    loss = 0.0
    for idx in batches(part, batch_size, max_batch_seconds):
        b = _to(collate(part, idx), device)
        _key(model, part, idx)
        with _autocast(device, precision):
            logits = model(b["input_values"], b["lengths"], b["attention_mask"]).float()
        loss += F.cross_entropy(logits, b["labels"], reduction="sum").item()
        probs[idx] = torch.softmax(logits, -1).cpu().numpy()
    return probs, loss / max(1, len(part))


@torch.no_grad()
def input_stats(
    model: PeftSER,
    part: Partition,
    collate: Collator,
    batch_size: int,
    max_batch_seconds: float,
    device: torch.device,
    precision: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over a partition of the head's input (pooled features, eval mode): the
    fixed standardisation of `peft.standardize`, like the layer-wise probe's."""
    model.eval()
    rows = []
    for idx in batches(part, batch_size, max_batch_seconds):
        b = _to(collate(part, idx), device)
        _key(model, part, idx)
        with _autocast(device, precision):
            rows.append(model.pooled(b["input_values"], b["lengths"], b["attention_mask"]).float())
    x = torch.cat(rows)
    return x.mean(0), x.std(0) if len(x) > 1 else torch.ones_like(x[0])


# ---- the resume fingerprint


def _fingerprint(**kw: Any) -> str:
    return hashlib.sha256(json.dumps(kw, sort_keys=True, default=str).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the xlser sources and the versions of the libraries that compute the numbers:
    a checkpoint written by other code is not resumed."""
    import transformers

    import peft

    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for f in sorted(pkg.rglob("*.py")):
        h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(
        f"torch {torch.__version__} transformers {transformers.__version__} peft {peft.__version__} "
        f"numpy {np.__version__}".encode()
    )
    return h.hexdigest()[:16]


def input_stamps(paths: Sequence[str]) -> list[list[Any]]:
    """(path, size, mtime_ns) of each input file: a job whose inputs were rewritten (Snakemake
    re-ran what produced them, e.g. `--forceall`) starts over instead of resuming."""
    out = []
    for p in sorted(set(map(str, paths))):
        st = Path(p).stat()
        out.append([p, st.st_size, st.st_mtime_ns])
    return out


# ---- adapters on disk


def save_adapter(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], path: str | Path) -> None:
    """safetensors file, byte-identical for identical tensors and metadata (the library writes
    metadata in hash order): header re-serialised with sorted keys; written atomically."""
    from safetensors.torch import save

    blob = save({k: v.detach().contiguous().cpu() for k, v in sorted(tensors.items())})
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8 : 8 + n])
    header.pop("__metadata__", None)
    header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with atomic_path(path) as tmp:
        tmp.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n :])


# ---- training


def stage_limit(schedule: str, max_epochs: int, stage: int, n_stages: int, done: int) -> int:
    """Epochs stage `stage` (0-based) of `n_stages` may train after `done` epochs of the earlier ones.

    `stagewise` (and any one-stage run): `max_epochs` each. `study`, as the study's loop runs
    it: at the start of every epoch e (1-based) it switches to the target when early stopping
    has fired or e = max_epochs // 2, and once switched it stops at the start of that same
    epoch e = max_epochs // 2 or at early stopping. So stage 1 trains at most
    max_epochs // 2 - 1 epochs (49 of 100); after an earlier switch the run stops at the start
    of epoch 50 (49 epochs trained in all, as its logs show: switch at epochs 12-26, stop at
    epoch 50); after a switch at epoch 50 the target stage runs to the end of the budget.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown two-stage schedule '{schedule}': expected one of {SCHEDULES}")
    if schedule == "stagewise" or n_stages == 1:
        return max_epochs
    half = max_epochs // 2  # the 1-based epoch at whose start the study's loop switches or stops
    if stage + 1 < n_stages:
        return max(0, half - 1 - done)
    end = half - 1 if done < half - 1 else max_epochs
    return max(0, end - done)


class Trainer:
    """Epoch loop over one or two stages with early stopping, best-by-val-UA weights, checkpoints.

    Two stages (`schedule`): `stagewise` gives each stage its own epoch budget and early
    stopping and keeps the best weights of the last stage; `study` (the study's code, see
    `stage_limit`) switches at early stopping or at half the epoch budget and keeps the best
    weights of either stage (both stages validate on the same data there). A new stage resets
    early stopping and keeps the optimiser.
    """

    def __init__(
        self,
        model: PeftSER,
        optim: Optim,
        settings: Finetune,
        device: torch.device,
        collate: Collator,
        checkpoint_dir: str | Path | None,
        fingerprint: str,
        labels: Sequence[str],
    ):
        self.model, self.optim, self.settings, self.device, self.collate = model, optim, settings, device, collate
        self.labels = list(labels)
        self.ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.fingerprint = fingerprint
        params = [p for p in model.parameters() if p.requires_grad]
        self.params = params
        self.optimizer = torch.optim.AdamW(params, lr=optim.lr, eps=optim.eps, weight_decay=optim.weight_decay)
        # constant learning rate, as the study; kept as a scheduler so a schedule can be added without
        # changing the checkpoint format
        self.scheduler = torch.optim.lr_scheduler.ConstantLR(self.optimizer, factor=1.0, total_iters=0)
        use_scaler = _half_dtype(device, settings.precision) == torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.state: dict[str, Any] = {
            "stage": 0,
            "epoch": 0,
            "total_epochs": 0,
            "best_ua": -1.0,
            "best_loss": math.inf,
            "bad": 0,
            "best_epoch": 0,
            "best_stage": 0,
            "best_state": None,
            "history": [],
            "wall_time_s": 0.0,
            "stage_epochs": [],
        }
        self.resumed_from: int | None = None

    # ---- checkpoint
    def _save(self) -> None:
        if self.ckpt_dir is None:
            return
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        blob = {
            "fingerprint": self.fingerprint,
            "model": self.model.trainable_state(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": self.state,
            "rng": _rng_state(),
        }
        with atomic_path(self.ckpt_dir / CKPT) as tmp:
            torch.save(blob, tmp)
        write_json(
            {k: self.state[k] for k in ("stage", "epoch", "total_epochs", "best_ua", "bad", "best_epoch")},
            self.ckpt_dir / "progress.json",
        )

    def try_resume(self) -> bool:
        """Load the job's last checkpoint if it belongs to this exact job (see the module docstring)."""
        path = self.ckpt_dir / CKPT if self.ckpt_dir else None
        if path is None or not path.is_file():
            return False
        blob = torch.load(path, map_location=self.device, weights_only=False)
        if blob.get("fingerprint") != self.fingerprint:
            log.warning("checkpoint %s is from other settings, data, inputs or code; starting afresh", path)
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

    def _train_epoch(self, part: Partition, seed: int) -> float:
        self.model.train()
        total, n = 0.0, 0
        order = batches(part, self.optim.batch_size, self.settings.max_batch_seconds, seed=seed)
        for idx in tqdm(order, desc=f"train {part.name}", leave=False, mininterval=5):
            b = _to(self.collate(part, idx), self.device)
            _key(self.model, part, idx)
            with _autocast(self.device, self.settings.precision):
                logits = self.model(b["input_values"], b["lengths"], b["attention_mask"]).float()
            loss = F.cross_entropy(logits, b["labels"])
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.settings.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.params, self.settings.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total += loss.item() * len(idx)
            n += len(idx)
        self.scheduler.step()
        return total / max(1, n)

    def _stage_limit(self, n_stages: int, schedule: str) -> int:
        """Epochs the current stage may run."""
        s = self.state
        return stage_limit(schedule, self.optim.max_epochs, s["stage"], n_stages, sum(s["stage_epochs"]))

    def fit(self, stages: Sequence[tuple[Partition, Partition]], schedule: str = "stagewise") -> None:
        """Train each (train, val) stage until early stopping or its epoch limit."""
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown two-stage schedule '{schedule}': expected one of {SCHEDULES}")
        s, st = self.state, self.settings
        while s["stage"] < len(stages):
            train, val = stages[s["stage"]]
            limit = self._stage_limit(len(stages), schedule)
            t0 = time.perf_counter()
            while s["epoch"] < limit and s["bad"] < self.optim.patience:
                seed = self.optim.seed * 100003 + s["stage"] * 1009 + s["epoch"]
                tr_loss = self._train_epoch(train, seed)
                probs, val_loss = predict(
                    self.model,
                    val,
                    self.collate,
                    self.optim.batch_size,
                    st.max_batch_seconds,
                    self.device,
                    st.precision,
                )
                require_finite(
                    [tr_loss, val_loss],
                    self.ckpt_dir or train.name,
                    f"stage {s['stage']} epoch {s['epoch'] + 1}: training / validation loss",
                    "the model diverged or an input is not finite: lower peft.lr, set peft.grad_clip, "
                    "or use precision: fp32",
                )
                y = val.table["label"].to_numpy()
                val_ua = metrics.ua(y, probs.argmax(1), range(len(self.labels)))
                s["epoch"] += 1
                s["total_epochs"] += 1
                if val_ua > s["best_ua"]:
                    s.update(
                        best_ua=val_ua,
                        best_epoch=s["epoch"],
                        best_stage=s["stage"],
                        best_state=self.model.trainable_state(),
                    )
                if val_loss < s["best_loss"]:
                    s["best_loss"], s["bad"] = val_loss, 0
                else:
                    s["bad"] += 1
                s["history"].append(
                    {
                        "stage": s["stage"],
                        "epoch": s["epoch"],
                        "train_loss": tr_loss,
                        "val_loss": val_loss,
                        "val_ua": val_ua,
                    }
                )
                log.info(
                    "stage %d epoch %d: train loss %.4f, val loss %.4f, val UA %.3f",
                    s["stage"],
                    s["epoch"],
                    tr_loss,
                    val_loss,
                    val_ua,
                )
                s["wall_time_s"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                self._save()
            s["wall_time_s"] += time.perf_counter() - t0
            s["stage_epochs"].append(s["epoch"])
            s.update(stage=s["stage"] + 1, epoch=0, best_loss=math.inf, bad=0)
            if s["stage"] < len(stages):
                if schedule == "stagewise":  # the best weights are the last stage's
                    s.update(best_ua=-1.0, best_epoch=0, best_state=None)
                self._save()
        self.model.load_trainable_state(s["best_state"])


def job_k(layer: Layer, best_layers: str | None, strategy: str, experiment: str, layers_kept: str) -> tuple[int, str]:
    """Layer k of a job and where it came from (`pinned`, `chosen`, or `chosen>=1` where the best
    layer >= 1 differs from the best of all, i.e. where the restriction moved it): pinned, or read
    from its best_layers.csv row and column. A layer where the strategy would have nothing to
    adapt (`nothing_to_adapt`) is an error naming it (with `peft.adapting_layer: best` the
    layer-wise stage may choose layer 0 for any strategy)."""
    if layer.pinned is not None:
        k, source = layer.pinned, layer.source
    elif best_layers is None:
        raise ValueError(
            f"the layer of {experiment} is chosen by the layer-wise stage (row {layer.row}): best_layers.csv is needed"
        )
    else:
        k = best_layer(best_layers, *layer.row, column=layer.column)
        moved = layer.column != BEST_COLUMN and k != best_layer(best_layers, *layer.row)
        source = layer.source if moved else Layer(row=layer.row).source
    if nothing_to_adapt(strategy, k, layers_kept):
        raise InputError(
            best_layers if layer.pinned is None else None,
            f"{strategy} {experiment}: layer {k} ({source}), where peft.layers_kept: {layers_kept} keeps "
            f"no transformer layer, so {strategy} would have nothing to adapt (it would train the head alone, "
            "as `frozen` does): peft.adapting_layer: adaptable takes the best layer >= 1 for it; or pin a "
            "layer >= 1, or peft.layers_kept: k+1",
        )
    return k, source


def run_finetune(
    *,
    best_layers: str | None,
    layer: Layer,
    source: str,
    manifests: Sequence[str],
    splits: Sequence[str],
    listening: str | None,
    model: str,
    train: str,
    test: str,
    strategy: str,
    fold: int,
    setting: str,
    stage_corpus: str | None,
    optim: Optim,
    settings: Finetune,
    lora: Lora | None,
    adapter: Adapter | None,
    head: str,
    emotions: Sequence[str],
    device: str,
    checkpoint_dir: str | None,
    out_metrics: str,
    out_predictions: str,
    out_adapter: str,
    out_stimuli: str,
    fresh_start: bool = False,
    job_threads: int | None = None,
) -> dict[str, Any]:
    """The whole job: layer k, model, data, training (with resume), test and stimulus predictions, outputs.

    `layer` pinned: k as given (`best_layers` may be None); chosen: k from the `best_layers`
    row of `layer.row`.

    `fresh_start` discards a leftover checkpoint instead of resuming it (a forced re-run:
    `snakemake -F` or `-R finetune`, which the job cannot tell from a restart after a kill).

    `lora` is required by the LoRA strategies and `adapter` by lora+ba+wg/two_stage (None
    otherwise); `stage_corpus` (the model-language corpus) by two_stage; `listening`, the
    test corpus's stimuli, may be None (stimuli.csv then holds its header only).

    Computes with `settings.threads` torch threads on CPU, with the job's `job_threads` on CUDA.
    """
    t_start = time.perf_counter()
    if uses_lora(strategy) and lora is None:
        raise ValueError(f"strategy {strategy} needs the LoRA settings (peft.lora)")
    if uses_adapters(strategy) and adapter is None:
        raise ValueError(f"strategy {strategy} needs the adapter settings (peft.adapter)")
    two_stage = strategy == "two_stage"
    if two_stage and (not stage_corpus or settings.two_stage_schedule is None):
        raise ValueError(
            f"two_stage needs the model-language corpus of {model} (models.{model}.lang) and peft.two_stage.schedule"
        )
    if train != test and settings.cross_val_on is None:
        raise ValueError(f"{train} -> {test} needs the validation corpus of cross-corpus runs (splits.cross_val_on)")
    dev = resolve_device(device)
    layer, layer_source = job_k(layer, best_layers, strategy, f"{model} {train} -> {test}", settings.layers_kept)
    files = corpus_files(manifests, splits)
    for c in {train, test} | ({stage_corpus} if two_stage else set()):
        if c not in files:
            raise InputError(None, f"no manifest/splits given for corpus {c} (have {sorted(files)})")

    val_corpus = test if train != test and settings.cross_val_on == "target" else train
    part = {
        (c, p): load_partition(*files[c], fold, p, emotions)
        for c, p in {(train, "train"), (val_corpus, "val"), (test, "test")}
    }
    val = part[val_corpus, "val"]
    stages = [(part[train, "train"], val)]
    if two_stage:
        stage_train = load_partition(*files[stage_corpus], fold, "train", emotions)
        # stagewise: the first stage validates on its own corpus; study: on the target throughout
        stage_val = (
            val
            if settings.two_stage_schedule == "study"
            else load_partition(*files[stage_corpus], fold, "val", emotions)
        )
        stages.insert(0, (stage_train, stage_val))
    if not two_stage:
        stage_corpus = None
    stimuli = load_stimuli(files[test][0], listening, emotions) if listening else None

    inputs = [*([best_layers] if layer_source != "pinned" else []), *manifests, *splits]
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    with torch_threads(compute_threads(dev, settings.threads, job_threads)):
        seed_everything(optim.seed)
        torch.use_deterministic_algorithms(dev.type == "cpu", warn_only=True)
        try:
            return _run(**locals())  # the checks above, then the job with determinism restored afterwards
        finally:
            torch.use_deterministic_algorithms(was_deterministic)


def _run(
    *,
    optim: Optim,
    settings: Finetune,
    dev: torch.device,
    layer: int,
    layer_source: str,
    stages: list,
    part: dict,
    stimuli: Partition | None,
    val_corpus: str,
    source: str,
    model: str,
    train: str,
    test: str,
    strategy: str,
    fold: int,
    setting: str,
    stage_corpus: str | None,
    lora: Lora | None,
    adapter: Adapter | None,
    head: str,
    emotions: Sequence[str],
    inputs: list[str],
    checkpoint_dir: str | None,
    out_metrics: str,
    out_predictions: str,
    out_adapter: str,
    out_stimuli: str,
    t_start: float,
    fresh_start: bool,
    **_: Any,
) -> dict[str, Any]:
    encoder = load_encoder(source, "cpu")
    if layer > len(encoder.encoder.layers):
        raise ValueError(
            f"layer {layer} ({layer_source}) of {model} {train} -> {test}: {source} has hidden states "
            f"0..{len(encoder.encoder.layers)} only"
        )
    n_kept = layers_to_keep(layer, settings.layers_kept, len(encoder.encoder.layers))
    net = build_model(encoder, n_kept, strategy, len(emotions), head, lora, adapter, settings.encoder_mode).to(dev)
    if settings.cache_features:
        net.cache_features()
    trainable, total = count_params(net)
    log.info(
        "%s %s %s->%s fold %d: layer %d (%s), %d layers kept, %d trainable of %d parameters, device %s, %d threads",
        model,
        strategy,
        train,
        test,
        fold,
        layer,
        layer_source,
        n_kept,
        trainable,
        total,
        dev,
        torch.get_num_threads(),
    )
    collate = Collator(load_feature_extractor(source), clip_normalised=settings.clip_normalised_waveform)
    fp = _fingerprint(
        job={
            "source": source,
            "layer": layer,
            "layers_kept": n_kept,
            "strategy": strategy,
            "head": head,
            "emotions": list(emotions),
            "train": train,
            "test": test,
            "fold": fold,
            "stage_corpus": stage_corpus,
            "device": dev.type,
        },
        optim=asdict(optim),
        settings=asdict(settings),
        lora=asdict(lora) if lora and uses_lora(strategy) else None,
        adapter=asdict(adapter) if adapter and uses_adapters(strategy) else None,
        data=[[p.name, p.table["utt_id"].tolist()] for st in stages for p in st],
        inputs=input_stamps(inputs),
        code=code_version(),
    )
    if settings.standardize:  # before training: the initial model on the first stage's training data
        net.set_input_stats(
            *input_stats(
                net, stages[0][0], collate, optim.batch_size, settings.max_batch_seconds, dev, settings.precision
            )
        )
    trainer = Trainer(net, optim, settings, dev, collate, checkpoint_dir, fp, emotions)
    if fresh_start:
        log.info("forced re-run: any checkpoint in %s is discarded", checkpoint_dir)
        trainer.clear()
    else:
        trainer.try_resume()
    trainer.fit(stages, settings.two_stage_schedule or "stagewise")

    def score(p: Partition) -> tuple[pd.DataFrame, np.ndarray]:
        probs = predict(net, p, collate, optim.batch_size, settings.max_batch_seconds, dev, settings.precision)[0]
        df = pd.DataFrame(
            {
                "utt_id": p.table["utt_id"].astype(str),
                "true": p.table["emotion"].tolist(),
                "pred": [emotions[i] for i in probs.argmax(1)],
            }
        )
        for i, e in enumerate(emotions):
            df[f"p_{e}"] = probs[:, i]
        return df, probs

    test_part = part[test, "test"]
    pred, _ = score(test_part)
    sc = metrics.scores(pred["true"].tolist(), pred["pred"].tolist(), list(emotions))
    # the listening stimuli, marked where this fold's model trained on them (Table III drops those)
    trained_on = {u for tr, _ in stages for u in tr.table["utt_id"].astype(str)}
    if stimuli is not None and len(stimuli):
        stim, _ = score(stimuli)
    else:
        stim = pd.DataFrame(columns=["utt_id", "true", "pred", *[f"p_{e}" for e in emotions]])
    stim["in_train"] = stim["utt_id"].isin(trained_on).astype(bool)

    s = trainer.state
    result = {
        "model": model,
        "setting": setting,
        "train": train,
        "test": test,
        "strategy": strategy,
        "fold": int(fold),
        "layer": layer,
        "layer_source": layer_source,
        "layers_kept": n_kept,
        "ua": sc["ua"],
        "wa": sc["wa"],
        "macro_f1": sc["macro_f1"],
        "epochs": int(s["total_epochs"]),
        "best_epoch": int(s["best_epoch"]),
        "best_stage": int(s["best_stage"]),
        "trainable_params": int(trainable),
        "total_params": int(total),
        "wall_time_s": float(s["wall_time_s"]),  # training time, summed over resumed runs
        "val_ua": float(s["best_ua"]),
        "stage_epochs": [int(e) for e in s["stage_epochs"]],
        "train_lang": stages[-1][0].lang,
        "test_lang": test_part.lang,
        "val_corpus": val_corpus,
        "stage_corpus": stage_corpus,
        "two_stage_schedule": settings.two_stage_schedule,
        "encoder_mode": settings.encoder_mode,
        "precision": settings.precision,
        "grad_clip": settings.grad_clip,
        "torch_threads": int(torch.get_num_threads()),
        "stimuli": len(stim),
        "stimuli_in_train": int(stim["in_train"].sum()),
        "resumed_from_epoch": trainer.resumed_from,
        "device": str(dev),
    }
    result["job_wall_time_s"] = time.perf_counter() - t_start
    save_adapter(
        net.trainable_state(),
        {
            "source": source,
            "layer": str(layer),
            "layers_kept": str(n_kept),
            "strategy": strategy,
            "head": head,
            "emotions": ",".join(emotions),
        },
        out_adapter,
    )
    write_csv(stim, out_stimuli)
    write_csv(pred, out_predictions)
    write_json(result, out_metrics)
    trainer.clear()
    return result
