"""Fine-tuning one (model, train, test, strategy, fold) job, with checkpoint and resume.

`run_finetune(job)` takes one `xlser.peft.job.FinetuneJob` and runs it in five steps:
`prepare` (checks, layer k, partitions), `build` (model, collator, fingerprint), `fit`
(training with resume), `score` (test set and listening stimuli), `write` (the outputs).
`xlser.peft.stack` trains the folds of one experiment together with the same steps and
the same `Trainer` bookkeeping.

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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
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
from xlser.peft.job import FinetuneJob
from xlser.peft.modules import PeftSER, build_model, count_params, layers_to_keep
from xlser.peft.settings import (
    BEST_COLUMN,
    SCHEDULES,
    Finetune,
    Layer,
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
    # generator states are CPU byte tensors; a checkpoint loaded onto a GPU maps them there
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


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
        # per partition, as before utterance keys existed: an utterance's cached CNN output is the
        # one computed in its own partition's batches (the same to float rounding in any batch)
        model.features.keys = [(part.name, *k) for k in part.keys(idx)]


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


class GlobalRng:
    """The random state a separate job draws from (torch, numpy, Python and CUDA's global
    generators): saved in its checkpoint, restored on resume."""

    def state(self) -> dict[str, Any]:
        return _rng_state()

    def load(self, state: dict[str, Any]) -> None:
        _set_rng_state(state)


class Trainer:
    """Epoch loop over one or two stages with early stopping, best-by-val-UA weights, checkpoints.

    Two stages (`schedule`): `stagewise` gives each stage its own epoch budget and early
    stopping and keeps the best weights of the last stage; `study` (the study's code, see
    `stage_limit`) switches at early stopping or at half the epoch budget and keeps the best
    weights of either stage (both stages validate on the same data there). A new stage resets
    early stopping and keeps the optimiser.

    The bookkeeping (`next_epoch`, `record_epoch`, `finish`) is apart from the epoch itself,
    so that `xlser.peft.stack` drives one Trainer per stacked model with the same rules and
    checkpoint files; `model` needs `parameters()`, `trainable_state()` and
    `load_trainable_state()` there, and `rng` says what random state the checkpoint holds.
    """

    def __init__(
        self,
        model: PeftSER,
        optim: Optim,
        settings: Finetune,
        device: torch.device,
        collate: Collator | None,
        checkpoint_dir: str | Path | None,
        fingerprint: str,
        labels: Sequence[str],
        rng: Any = None,
        name: str = "",
    ):
        self.model, self.optim, self.settings, self.device, self.collate = model, optim, settings, device, collate
        self.labels = list(labels)
        self.ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.fingerprint = fingerprint
        self.rng = rng or GlobalRng()
        self.name = f"{name}: " if name else ""
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
            "rng": self.rng.state(),
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
        self.rng.load(blob["rng"])
        self.resumed_from = self.state["total_epochs"]
        log.info("resumed from %s: stage %d, epoch %d", path, self.state["stage"], self.state["epoch"])
        return True

    def start(self, fresh: bool) -> None:
        """Discard any checkpoint (`fresh`: a forced re-run) or resume a matching one."""
        if fresh:
            log.info("forced re-run: any checkpoint in %s is discarded", self.ckpt_dir)
            self.clear()
        else:
            self.try_resume()

    def clear(self) -> None:
        if self.ckpt_dir is not None and self.ckpt_dir.exists():
            shutil.rmtree(self.ckpt_dir)

    # ---- one optimiser step (also the stacked models', whose gradients are in place already)
    def clip_and_step(self) -> None:
        """Unscale and clip the gradients (`grad_clip`), step AdamW and the loss scaler."""
        if self.settings.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, self.settings.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()

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
            self.clip_and_step()
            total += loss.item() * len(idx)
            n += len(idx)
        self.scheduler.step()
        return total / max(1, n)

    # ---- the epoch bookkeeping
    def epoch_seed(self) -> int:
        """The seed of the current epoch's batch plan (a function of the job's seed, stage and epoch)."""
        return self.optim.seed * 100003 + self.state["stage"] * 1009 + self.state["epoch"]

    def next_epoch(self, n_stages: int, schedule: str) -> bool:
        """Whether another epoch trains (in `state["stage"]`); finished stages are closed on the way."""
        s = self.state
        while s["stage"] < n_stages:
            limit = stage_limit(schedule, self.optim.max_epochs, s["stage"], n_stages, sum(s["stage_epochs"]))
            if s["epoch"] < limit and s["bad"] < self.optim.patience:
                return True
            s["stage_epochs"].append(s["epoch"])
            s.update(stage=s["stage"] + 1, epoch=0, best_loss=math.inf, bad=0)
            if s["stage"] < n_stages:
                if schedule == "stagewise":  # the best weights are the last stage's
                    s.update(best_ua=-1.0, best_epoch=0, best_state=None)
                self._save()
        return False

    def record_epoch(self, tr_loss: float, val_loss: float, probs: np.ndarray, val: Partition, seconds: float) -> None:
        """One epoch's training and validation results: best weights, early stopping, history, checkpoint."""
        s = self.state
        require_finite(
            [tr_loss, val_loss],
            self.ckpt_dir or val.name,
            f"stage {s['stage']} epoch {s['epoch'] + 1}: training / validation loss",
            "the model diverged or an input is not finite: lower peft.lr, set peft.grad_clip, or use precision: fp32",
        )
        val_ua = metrics.ua(val.table["label"].to_numpy(), probs.argmax(1), range(len(self.labels)))
        s["epoch"] += 1
        s["total_epochs"] += 1
        if val_ua > s["best_ua"]:
            s.update(
                best_ua=val_ua, best_epoch=s["epoch"], best_stage=s["stage"], best_state=self.model.trainable_state()
            )
        if val_loss < s["best_loss"]:
            s["best_loss"], s["bad"] = val_loss, 0
        else:
            s["bad"] += 1
        s["history"].append(
            {"stage": s["stage"], "epoch": s["epoch"], "train_loss": tr_loss, "val_loss": val_loss, "val_ua": val_ua}
        )
        log.info(
            "%sstage %d epoch %d: train loss %.4f, val loss %.4f, val UA %.3f",
            self.name,
            s["stage"],
            s["epoch"],
            tr_loss,
            val_loss,
            val_ua,
        )
        s["wall_time_s"] += seconds
        self._save()

    def finish(self) -> None:
        """The weights kept: those of the best validation UA."""
        s = self.state
        self.model.load_trainable_state(s["best_state"])

    def fit(self, stages: Sequence[tuple[Partition, Partition]], schedule: str = "stagewise") -> None:
        """Train each (train, val) stage until early stopping or its epoch limit."""
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown two-stage schedule '{schedule}': expected one of {SCHEDULES}")
        st = self.settings
        while self.next_epoch(len(stages), schedule):
            train, val = stages[self.state["stage"]]
            t0 = time.perf_counter()
            tr_loss = self._train_epoch(train, self.epoch_seed())
            probs, val_loss = predict(
                self.model, val, self.collate, self.optim.batch_size, st.max_batch_seconds, self.device, st.precision
            )
            self.record_epoch(tr_loss, val_loss, probs, val, time.perf_counter() - t0)
        self.finish()


# ---- one job: prepare (checks, layer, data), build, fit, score, write


@dataclass
class Prepared:
    """A job with its layer resolved and its data loaded: stages are (train, val) partitions
    (two_stage: the model-language corpus first); `files` are what the fingerprint stamps."""

    job: FinetuneJob
    device: torch.device
    layer: int
    layer_source: str
    stages: list[tuple[Partition, Partition]]
    test: Partition
    stimuli: Partition | None
    files: list[str]

    @property
    def stage_corpus(self) -> str | None:
        return self.job.stage_corpus if self.job.two_stage else None

    @property
    def schedule(self) -> str:
        return self.job.settings.two_stage_schedule or "stagewise"


def resolve_layer(job: FinetuneJob) -> tuple[int, str]:
    """Layer k of a job and where it came from (`pinned`, `chosen`, or `chosen>=1` where the best
    layer >= 1 differs from the best of all, i.e. where the restriction moved it): pinned, or read
    from its best_layers.csv row and column. A layer where the strategy would have nothing to
    adapt (`nothing_to_adapt`) is an error naming it (with `peft.adapting_layer: best` the
    layer-wise stage may choose layer 0 for any strategy)."""
    layer, best_layers = job.layer, job.inputs.best_layers
    experiment = f"{job.model} {job.train} -> {job.test}"
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
    kept = job.settings.layers_kept
    if nothing_to_adapt(job.strategy, k, kept):
        raise InputError(
            best_layers if layer.pinned is None else None,
            f"{job.strategy} {experiment}: layer {k} ({source}), where peft.layers_kept: {kept} keeps "
            f"no transformer layer, so {job.strategy} would have nothing to adapt (it would train the head alone, "
            "as `frozen` does): peft.adapting_layer: adaptable takes the best layer >= 1 for it; or pin a "
            "layer >= 1, or peft.layers_kept: k+1",
        )
    return k, source


def prepare(job: FinetuneJob) -> Prepared:
    """Check the job against its files, resolve its layer and load its partitions."""
    dev = resolve_device(job.device)
    layer, layer_source = resolve_layer(job)
    files = corpus_files(job.inputs.manifests, job.inputs.splits)
    for c in job.corpora:
        if c not in files:
            raise InputError(None, f"no manifest/splits given for corpus {c} (have {sorted(files)})")
    fold, emotions, val_corpus, train, test = job.fold, job.emotions, job.val_corpus, job.train, job.test
    part = {
        (c, p): load_partition(*files[c], fold, p, emotions)
        for c, p in {(train, "train"), (val_corpus, "val"), (test, "test")}
    }
    val = part[val_corpus, "val"]
    stages = [(part[train, "train"], val)]
    if job.two_stage:
        stage_train = load_partition(*files[job.stage_corpus], fold, "train", emotions)
        # stagewise: the first stage validates on its own corpus; study: on the target throughout
        if job.settings.two_stage_schedule == "study":
            stage_val = val
        else:
            stage_val = load_partition(*files[job.stage_corpus], fold, "val", emotions)
        stages.insert(0, (stage_train, stage_val))
    listening = job.inputs.listening
    stimuli = load_stimuli(files[test][0], listening, emotions) if listening else None
    test_part = part[test, "test"]
    inputs = [*([job.inputs.best_layers] if layer_source != "pinned" else []), *job.inputs.manifests]
    return Prepared(job, dev, layer, layer_source, stages, test_part, stimuli, [*inputs, *job.inputs.splits])


@contextlib.contextmanager
def job_context(threads: int, seed: int, dev: torch.device) -> Iterator[None]:
    """`threads` torch threads, the global generators seeded, deterministic algorithms on CPU;
    the caller's thread count and determinism restored afterwards."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    with torch_threads(threads):
        seed_everything(seed)
        torch.use_deterministic_algorithms(dev.type == "cpu", warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic)


def run_finetune(job: FinetuneJob) -> dict[str, Any]:
    """The whole job: layer k, model, data, training (with resume), test and stimulus predictions, outputs.

    The layer is `job.layer`'s: pinned, or chosen from its `best_layers.csv` row. A job's
    `fresh_start` discards a leftover checkpoint instead of resuming it. Without listening
    stimuli, stimuli.csv holds its header only.
    """
    t_start = time.perf_counter()
    p = prepare(job)
    with job_context(compute_threads(p.device, job.settings.threads, job.job_threads), job.optim.seed, p.device):
        built = build(p)
        trainer = fit(p, built)
        pred, stim = score(p, built.net, built.collate)
        result = write(p, built, trainer, built.net.trainable_state(), pred, stim, t_start)
        trainer.clear()
        return result


@dataclass
class Built:
    """A job's model (on its device), collator, kept layers, parameter counts and resume fingerprint."""

    net: PeftSER
    collate: Collator
    n_kept: int
    trainable: int
    total: int
    fingerprint: str


def kept_layers(p: Prepared, encoder: torch.nn.Module) -> int:
    """How many transformer layers the job keeps of this (uncut) encoder; its layer k checked against it."""
    job, n_layers = p.job, len(encoder.encoder.layers)
    if p.layer > n_layers:
        raise ValueError(
            f"layer {p.layer} ({p.layer_source}) of {job.model} {job.train} -> {job.test}: {job.source} has hidden "
            f"states 0..{n_layers} only"
        )
    return layers_to_keep(p.layer, job.settings.layers_kept, n_layers)


def load_model(p: Prepared, encoder: torch.nn.Module | None = None, to_device: bool = True) -> tuple[PeftSER, int]:
    """The checkpoint loaded (or `encoder`, loaded by the caller), cut and given its PEFT modules
    and head (from the global generators, as seeded by the caller): the model (on the job's
    device, or the CPU) and its number of kept layers."""
    job = p.job
    encoder = load_encoder(job.source, "cpu") if encoder is None else encoder
    n_kept = kept_layers(p, encoder)
    st = job.settings
    net = build_model(
        encoder, n_kept, job.strategy, len(job.emotions), job.head, job.lora, job.adapter, st.encoder_mode
    )
    return (net.to(p.device) if to_device else net), n_kept


def fingerprint(p: Prepared, n_kept: int, **extra: Any) -> str:
    """What the job computes with (see the module docstring); `extra` for what a caller adds."""
    job = p.job
    return _fingerprint(
        job={
            "source": job.source,
            "layer": p.layer,
            "layers_kept": n_kept,
            "strategy": job.strategy,
            "head": job.head,
            "emotions": list(job.emotions),
            "train": job.train,
            "test": job.test,
            "fold": job.fold,
            "stage_corpus": p.stage_corpus,
            "device": p.device.type,
        },
        optim=asdict(job.optim),
        settings=asdict(job.settings),
        lora=asdict(job.lora) if job.lora and uses_lora(job.strategy) else None,
        adapter=asdict(job.adapter) if job.adapter and uses_adapters(job.strategy) else None,
        data=[[part.name, part.table["utt_id"].tolist()] for st in p.stages for part in st],
        inputs=input_stamps(p.files),
        code=code_version(),
        **extra,
    )


def build(p: Prepared) -> Built:
    """The job's model, collator and fingerprint."""
    job, st = p.job, p.job.settings
    net, n_kept = load_model(p)
    if st.cache_features:
        net.cache_features()
    trainable, total = count_params(net)
    log.info(
        "%s: layer %d (%s), %d layers kept, %d trainable of %d parameters, device %s, %d threads",
        job.name,
        p.layer,
        p.layer_source,
        n_kept,
        trainable,
        total,
        p.device,
        torch.get_num_threads(),
    )
    collate = Collator(load_feature_extractor(job.source), clip_normalised=st.clip_normalised_waveform)
    return Built(net, collate, n_kept, trainable, total, fingerprint(p, n_kept))


def fit(p: Prepared, built: Built) -> Trainer:
    """Standardisation statistics (`peft.standardize`), then training from scratch or resumed."""
    job, st, net = p.job, p.job.settings, built.net
    if st.standardize:  # before training: the initial model on the first stage's training data
        stats = input_stats(
            net, p.stages[0][0], built.collate, job.optim.batch_size, st.max_batch_seconds, p.device, st.precision
        )
        net.set_input_stats(*stats)
    trainer = Trainer(net, job.optim, st, p.device, built.collate, job.checkpoint_dir, built.fingerprint, job.emotions)
    trainer.start(job.fresh_start)
    trainer.fit(p.stages, p.schedule)
    return trainer


def predictions_frame(part: Partition, probs: np.ndarray, emotions: Sequence[str]) -> pd.DataFrame:
    """predictions.csv's rows: utt_id, true, pred, then the class probabilities p_<emotion>."""
    df = pd.DataFrame(
        {
            "utt_id": part.table["utt_id"].astype(str),
            "true": part.table["emotion"].tolist(),
            "pred": [emotions[i] for i in probs.argmax(1)],
        }
    )
    for i, e in enumerate(emotions):
        df[f"p_{e}"] = probs[:, i]
    return df


def stimuli_frame(p: Prepared, probs: np.ndarray | None) -> pd.DataFrame:
    """stimuli.csv: the listening stimuli's predictions (header only without stimuli), marked
    where this fold's model trained on them (Table III drops those)."""
    emotions = p.job.emotions
    if p.stimuli is not None and probs is not None:
        stim = predictions_frame(p.stimuli, probs, emotions)
    else:
        stim = pd.DataFrame(columns=["utt_id", "true", "pred", *[f"p_{e}" for e in emotions]])
    trained_on = {u for tr, _ in p.stages for u in tr.table["utt_id"].astype(str)}
    stim["in_train"] = stim["utt_id"].isin(trained_on).astype(bool)
    return stim


def score(p: Prepared, net: PeftSER, collate: Collator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test predictions and the scored stimuli, with the kept (best) weights."""
    job, st = p.job, p.job.settings

    def probs(part: Partition) -> np.ndarray:
        return predict(net, part, collate, job.optim.batch_size, st.max_batch_seconds, p.device, st.precision)[0]

    has_stimuli = p.stimuli is not None and len(p.stimuli)
    return predictions_frame(p.test, probs(p.test), job.emotions), stimuli_frame(
        p, probs(p.stimuli) if has_stimuli else None
    )


def write(
    p: Prepared,
    built: Built,
    trainer: Trainer,
    weights: Mapping[str, torch.Tensor],
    pred: pd.DataFrame,
    stim: pd.DataFrame,
    t_start: float,
    **extra: Any,
) -> dict[str, Any]:
    """metrics.json (with `extra` keys), predictions.csv, adapter.safetensors and stimuli.csv, each atomically."""
    job, st, s = p.job, p.job.settings, trainer.state
    sc = metrics.scores(pred["true"].tolist(), pred["pred"].tolist(), list(job.emotions))
    result = {
        "model": job.model,
        "setting": job.setting,
        "train": job.train,
        "test": job.test,
        "strategy": job.strategy,
        "fold": int(job.fold),
        "layer": p.layer,
        "layer_source": p.layer_source,
        "layers_kept": built.n_kept,
        "ua": sc["ua"],
        "wa": sc["wa"],
        "macro_f1": sc["macro_f1"],
        "epochs": int(s["total_epochs"]),
        "best_epoch": int(s["best_epoch"]),
        "best_stage": int(s["best_stage"]),
        "trainable_params": int(built.trainable),
        "total_params": int(built.total),
        "wall_time_s": float(s["wall_time_s"]),  # training time, summed over resumed runs
        "val_ua": float(s["best_ua"]),
        "stage_epochs": [int(e) for e in s["stage_epochs"]],
        "train_lang": p.stages[-1][0].lang,
        "test_lang": p.test.lang,
        "val_corpus": job.val_corpus,
        "stage_corpus": p.stage_corpus,
        "two_stage_schedule": st.two_stage_schedule,
        "encoder_mode": st.encoder_mode,
        "precision": st.precision,
        "grad_clip": st.grad_clip,
        "torch_threads": int(torch.get_num_threads()),
        "stimuli": len(stim),
        "stimuli_in_train": int(stim["in_train"].sum()),
        "resumed_from_epoch": trainer.resumed_from,
        "device": str(p.device),
        **extra,
    }
    result["job_wall_time_s"] = time.perf_counter() - t_start
    meta = {"source": job.source, "layer": str(p.layer), "layers_kept": str(built.n_kept), "strategy": job.strategy}
    save_adapter(weights, meta | {"head": job.head, "emotions": ",".join(job.emotions)}, job.outputs.adapter)
    write_csv(stim, job.outputs.stimuli)
    write_csv(pred, job.outputs.predictions)
    write_json(result, job.outputs.metrics)
    return result
