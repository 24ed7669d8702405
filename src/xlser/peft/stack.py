"""The fold models of one experiment and strategy, fine-tuned together in one process.

`run_stacked(jobs)` trains several `FinetuneJob`s that share the checkpoint, the cut (layer
k, layers kept), the strategy and the fine-tuning settings, and differ in fold, data and
optimiser settings, as one stacked ensemble. One training step runs forward and backward
for the current batch of every model still training, together: the frozen encoder once in
memory, each row of the padded batch computed with its own model's LoRA factors, adapters,
gates and head (`xlser.peft.rows`). Every model keeps its own nn.Parameters (named and
ordered as its `PeftSER`'s), its own AdamW and loss scaler, its own gradient clipping, its
own batch plan (the very batches its separate job draws), early stopping, best epoch and
two-stage schedule (one `xlser.peft.train.Trainer` each, the separate job's bookkeeping), its
own checkpoint folder (the separate job's files and semantics) and its own outputs (the
separate job's files, plus `training: stacked`, `stack_size` and `stack_padding` in
metrics.json). Each model is built exactly as its separate job builds it (seed, load,
build), so it starts from the same weights.

A round trains one epoch of every model still training: step s stacks the s-th batch of
each model's plan (a model with fewer batches sits out the rest of the round), the loss is
the sum of every model's own mean cross-entropy (their gradients are disjoint, so each model
gets its separate run's gradient) and each model steps its own optimiser. Then every model
validates (stacked, in eval mode), records its epoch and writes its checkpoint; a model that
has stopped (early stopping, epoch budget) leaves the stack. Test predictions and the
listening stimuli are scored stacked too, with each model's best weights.

What holds exactly and what in distribution:
- No random draw (`encoder_mode: eval`, LoRA dropout 0): every model's trained weights,
  validation curve, stopping epoch and test predictions are its separate run's to float
  rounding (batched matmuls over rows instead of one model's matmuls; CNN features cached
  per utterance instead of per partition): tests/peft/test_stack.py.
- Random draws (`encoder_mode: train`: the checkpoint's dropout, attention dropout,
  LayerDrop and SpecAugment time masks; LoRA dropout): each model draws from its own
  generators (`rows.MemberRng`, seeded from its job's seed and fold), with the shapes and
  probabilities its separate run draws with (LayerDrop decided per model, time masks per
  row), so the distribution per model is its separate run's, not its sample: the separate
  run draws from the global generators. A stacked run repeats its own numbers exactly, and
  a model's draws depend on its own batches only, so it trains the same (to float rounding)
  in any stack, alone included.
- Resume: each model resumes from its own last checkpoint; a kill mid-round repeats that
  round and ends with the numbers of an uninterrupted run (exactly, on CPU).

Why: at batch 1 (the study's) one model's step on a GPU is latency-bound, a long chain of
small kernels with the GPU idle between them; a stacked step launches about the kernels of
one step (plus a few per model: its optimiser, its random masks) for N utterances. On a
CPU, which is throughput-bound, a stacked step costs about what the N separate steps cost
(`benchmarks/bench_peft.py --stack`). metrics.json's `wall_time_s` of a stacked model is the
stack's time (training and validation rounds) while the model trained, so the stack's own
training time is the largest `wall_time_s` of its models.

Padding: the rows of one step have different lengths; `stack_padding` in metrics.json is
the padded frames over the real frames of this run's training steps (every fold draws its
batch plan with the same seed, so at batch 1 step s of every fold takes an utterance of
about the same duration rank: little padding). An encoder whose batches are not exact
(`batch_mode` unbatched), or whose attention or random draws cannot be taken per model
(`rows.why_not_rows`), is trained with separate runs instead (logged).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xlser.device import compute_threads
from xlser.models import encoder as exact
from xlser.models.loading import load_encoder, load_feature_extractor
from xlser.peft.data import Collator, Partition, batches
from xlser.peft.job import FinetuneJob
from xlser.peft.modules import CachedFeatureEncoder, PeftSER, count_params, cut_encoder, load_trained
from xlser.peft.rows import MemberRng, Rows, Span, head_names, install_rows, member_seed, row_head, why_not_rows
from xlser.peft.settings import Finetune, Lora, uses_adapters, uses_lora
from xlser.peft.train import (
    Built,
    Prepared,
    Trainer,
    _autocast,
    _rng_state,
    _set_rng_state,
    fingerprint,
    job_context,
    kept_layers,
    load_model,
    predictions_frame,
    prepare,
    run_finetune,
    seed_everything,
    stimuli_frame,
    write,
)

log = logging.getLogger(__name__)


class MemberWeights(nn.Module):
    """One stacked model's trained weights, named and ordered as its `PeftSER`'s trained
    parameters (so its optimiser state and checkpoint are its separate job's), and its head's
    input statistics (`in_mean`, `in_std`)."""

    def __init__(self, net: PeftSER):
        super().__init__()
        params = dict(net.named_parameters())
        self.names = [n for n, p in params.items() if p.requires_grad]
        self.weights = nn.ParameterList([nn.Parameter(params[n].detach().clone()) for n in self.names])
        self.register_buffer("in_mean", net.in_mean.detach().clone())
        self.register_buffer("in_std", net.in_std.detach().clone())

    def of_layer(self, index: int) -> list[nn.Parameter]:
        """The weights on transformer layer `index` (LoRA, adapter, gate)."""
        prefix = f"encoder.encoder.layers.{index}."
        return [w for n, w in zip(self.names, self.weights) if n.startswith(prefix)]

    def named(self) -> dict[str, torch.Tensor]:
        return {**dict(zip(self.names, self.weights)), "in_mean": self.in_mean, "in_std": self.in_std}

    def set_input_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """As `PeftSER.set_input_stats`."""
        self.in_mean = mean.detach().to(self.in_mean.device, torch.float32).clone()
        self.in_std = std.detach().to(self.in_std.device, torch.float32).clamp(min=1e-5).clone()

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """As `PeftSER.trainable_state`: the same names, so the same adapter file."""
        state = {n: p.detach().clone() for n, p in zip(self.names, self.weights)}
        return state | {"in_mean": self.in_mean.detach().clone(), "in_std": self.in_std.detach().clone()}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        load_trained(self, dict(zip(self.names, self.weights)), state)


@dataclass
class Batch:
    """One stacked step: padded input values, sample lengths, labels, the slot of each row
    (`owner`), each slot's rows (`spans`), the CNN cache keys, and the frame counts."""

    values: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    owner: torch.Tensor
    spans: list[Span]
    keys: list[Any] | None
    frames: torch.Tensor  # (B,) on the CPU: the valid frames of each row
    real_frames: int
    padded_frames: int
    own_padded_frames: int


def make_batch(
    encoder: nn.Module,
    collated: dict[str, Any],
    sizes: Sequence[int],
    rngs: Sequence[MemberRng | None],
    keys: list[Any] | None,
    device: torch.device,
) -> Batch:
    """A stacked step from one collated batch whose rows are `sizes[i]` rows of slot i, in order."""
    lengths = collated["lengths"]  # on the CPU: nothing here waits for the device
    frame_counts = exact.frame_lengths(encoder, lengths)
    frames = frame_counts.tolist()
    spans, start = [], 0
    for slot, (n, rng) in enumerate(zip(sizes, rngs)):
        spans.append(Span(slot, start, start + n, int(max(frames[start : start + n])), rng))
        start += n
    owner = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(list(sizes)))
    return Batch(
        values=collated["input_values"].to(device),
        lengths=lengths.to(device),
        labels=collated["labels"].to(device),
        owner=owner.to(device),
        spans=spans,
        keys=keys,
        frames=frame_counts,
        real_frames=int(sum(frames)),
        padded_frames=int(len(frames) * max(frames)),
        own_padded_frames=int(sum((s.end - s.start) * s.frames for s in spans)),
    )


class Stack(nn.Module):
    """The shared frozen encoder (cut, with per-row PEFT modules) and the per-row head."""

    def __init__(
        self,
        encoder: nn.Module,
        names: Sequence[str],
        strategy: str,
        lora: Lora | None,
        settings: Finetune,
        device: torch.device,
    ) -> None:
        """`encoder`: cut and frozen (`shared_encoder`); `names`: the models' trained weights
        (`MemberWeights.names`); `settings`: the models' shared fine-tuning settings."""
        super().__init__()
        self.rows = Rows()
        self.mode = exact.batch_mode(encoder)  # checked before the row modules go in
        lora = lora if uses_lora(strategy) else None
        install_rows(encoder, names, lora, settings.encoder_mode, self.rows, uses_adapters(strategy))
        self.encoder = encoder.to(device)
        self.head_layers = head_names(names)
        self.encoder_mode, self.precision, self.device = settings.encoder_mode, settings.precision, device
        cache = settings.cache_features
        self.features = CachedFeatureEncoder(encoder.feature_extractor, alone=True) if cache else None
        self.global_draws_checked = False

    def set_rows(self, batch: Batch, members: Sequence[MemberWeights], training: bool) -> None:
        """The weights the batch's rows read: every slot's, stacked (differentiable)."""
        named = [m.named() for m in members]  # matrices transposed: (S, in, out), as the batched matmuls read them
        stacked = {n: torch.stack([d[n].t() if d[n].dim() == 2 else d[n] for d in named]) for n in named[0]}
        self.rows.set(batch.owner, batch.spans, stacked, training)
        self.encoder.train(training and self.encoder_mode == "train")

    def pooled(self, batch: Batch) -> torch.Tensor:
        """As `PeftSER.pooled`: the last hidden state averaged over each row's valid frames."""
        feats = None
        if self.features is not None and self.mode != "unbatched":
            self.features.keys = batch.keys
            per_utterance = self.mode == "cnn_per_utterance"
            feats = self.features(batch.values, batch.lengths, batch.frames, per_utterance=per_utterance)
        frames = batch.frames.to(batch.values.device)
        hidden = exact.forward(self.encoder, batch.values, batch.lengths, mode=self.mode, features=feats)[0]
        frames = frames.clamp(1, hidden.shape[1])
        mask = (torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]).to(hidden.dtype)
        return (hidden * mask[..., None]).sum(1) / frames[:, None].to(hidden.dtype)

    def logits(self, batch: Batch) -> torch.Tensor:
        """As `PeftSER.forward`, per row: standardised pooled vector, then the row's head."""
        with _autocast(self.device, self.precision):
            pooled = self.pooled(batch).float()
            pooled = (pooled - self.rows.w("in_mean")) / self.rows.w("in_std")
            return row_head(pooled, self.rows, self.head_layers).float()


@dataclass
class Member:
    """One job in the stack: its data, weights, trainer (bookkeeping, optimiser, checkpoint) and streams."""

    prep: Prepared
    weights: MemberWeights
    trainer: Trainer
    rng: MemberRng
    built: Built
    train_loss: float = 0.0

    @property
    def job(self) -> FinetuneJob:
        return self.prep.job

    def stage(self) -> tuple[Partition, Partition]:
        return self.prep.stages[self.trainer.state["stage"]]


@dataclass
class Padding:
    """Frames of the training steps: real, padded in the stack, padded as each model's own batches."""

    real: int = 0
    padded: int = 0
    own: int = 0

    def add(self, batch: Batch) -> None:
        self.real += batch.real_frames
        self.padded += batch.padded_frames
        self.own += batch.own_padded_frames

    def ratio(self) -> float:
        return self.padded / self.real if self.real else 1.0


def train_step(stack: Stack, members: Sequence[Member], batch: Batch) -> torch.Tensor:
    """One optimiser step of every model in `members` (slot i = members[i]): forward and backward
    together, then each model's own clipping and AdamW step. Returns each model's mean loss."""
    stack.set_rows(batch, [m.weights for m in members], training=True)
    ce = F.cross_entropy(stack.logits(batch), batch.labels, reduction="none")
    counts = torch.tensor([s.end - s.start for s in batch.spans], dtype=ce.dtype, device=ce.device)
    per = torch.zeros(len(members), dtype=ce.dtype, device=ce.device).index_add_(0, batch.owner, ce) / counts
    for m in members:
        m.trainer.optimizer.zero_grad(set_to_none=True)
    sum(m.trainer.scaler.scale(per[i]) for i, m in enumerate(members)).backward()
    for slot, layer in stack.rows.skipped:  # LayerDrop: as in a separate run, no gradient at all
        for w in members[slot].weights.of_layer(layer):
            w.grad = None
    for m in members:
        m.trainer.clip_and_step()
    return per.detach()


def train_round(stack: Stack, members: Sequence[Member], collate: Collator, padding: Padding) -> None:
    """One epoch of every model in `members`, stacked step by step (`Member.train_loss` set)."""
    plans = []
    for m in members:
        st, train = m.job.settings, m.stage()[0]
        plans.append(batches(train, m.job.optim.batch_size, st.max_batch_seconds, seed=m.trainer.epoch_seed()))
    dev = stack.device
    totals = torch.zeros(len(members), dtype=torch.float64, device=dev)
    counts = np.zeros(len(members))
    for s in range(max(len(p) for p in plans)):
        here = [i for i, p in enumerate(plans) if s < len(p)]
        items = [(members[i].stage()[0], plans[i][s]) for i in here]
        keys = [k for part, idx in items for k in part.keys(idx)]
        batch = make_batch(
            stack.encoder,
            collate.rows(items),
            [len(idx) for _, idx in items],
            [members[i].rng for i in here],
            keys,
            dev,
        )
        padding.add(batch)
        if stack.global_draws_checked:
            per = train_step(stack, [members[i] for i in here], batch)
        else:
            per = _checked_step(stack, [members[i] for i in here], batch)
        sizes = [len(idx) for _, idx in items]
        totals.index_add_(0, torch.tensor(here, device=dev), per.double() * torch.tensor(sizes, device=dev))
        counts[here] += sizes
    for m, total, n in zip(members, totals.tolist(), counts):
        m.trainer.scheduler.step()
        m.train_loss = total / max(1.0, n)


def _checked_step(stack: Stack, members: Sequence[Member], batch: Batch) -> torch.Tensor:
    """`train_step`, checking once that it drew nothing from the global generators (every
    draw is meant to come from the models' own streams: `rows.install_rows`)."""
    before = (torch.get_rng_state(), np.random.get_state()[1].copy())
    per = train_step(stack, members, batch)
    if not (torch.equal(before[0], torch.get_rng_state()) and np.array_equal(before[1], np.random.get_state()[1])):
        log.warning(
            "a training step drew from the global random generators: some random part of the encoder is not "
            "drawn per model (its distribution is right, its stream is shared by the stacked models)"
        )
    stack.global_draws_checked = True
    return per


@torch.no_grad()
def evaluate(
    stack: Stack, pairs: Sequence[tuple[Member, Partition]], collate: Collator, pooled: bool = False
) -> list[tuple[np.ndarray, float]]:
    """Per (model, partition): class probabilities in the partition's order and the mean
    cross-entropy (as `train.predict`), or (`pooled`) the head's input per row and 0."""
    plans = [batches(part, m.job.optim.batch_size, m.job.settings.max_batch_seconds) for m, part in pairs]
    dim = stack.encoder.config.hidden_size if pooled else None
    out = [np.zeros((len(part), dim or len(m.job.emotions)), dtype=np.float64) for m, part in pairs]
    loss = np.zeros(len(pairs))
    for s in range(max(len(p) for p in plans)):
        here = [i for i, p in enumerate(plans) if s < len(p)]
        items = [(pairs[i][1], plans[i][s]) for i in here]
        keys = [k for part, idx in items for k in part.keys(idx)]
        batch = make_batch(
            stack.encoder, collate.rows(items), [len(x) for _, x in items], [None] * len(here), keys, stack.device
        )
        stack.set_rows(batch, [pairs[i][0].weights for i in here], training=False)
        if pooled:
            with _autocast(stack.device, stack.precision):
                values = stack.pooled(batch).float()
        else:
            logits = stack.logits(batch)
            values = torch.softmax(logits, -1)
            ce = F.cross_entropy(logits, batch.labels, reduction="none").double()
        for j, (i, (_, idx)) in enumerate(zip(here, items)):
            span = batch.spans[j]
            out[i][idx] = values[span.start : span.end].cpu().numpy()
            if not pooled:
                loss[i] += float(ce[span.start : span.end].sum())
    return [(o, float(total) / max(1, len(part))) for o, total, (_, part) in zip(out, loss, pairs)]


def fit_stack(stack: Stack, members: Sequence[Member], collate: Collator, padding: Padding) -> None:
    """Rounds of one epoch per model still training, each model validated, recorded and
    checkpointed after its epoch, until every model has stopped; then each keeps its best weights."""
    rounds = 0
    while True:
        active = [m for m in members if m.trainer.next_epoch(len(m.prep.stages), m.prep.schedule)]
        if not active:
            break
        t0 = time.perf_counter()
        train_round(stack, active, collate, padding)
        results = evaluate(stack, [(m, m.stage()[1]) for m in active], collate)
        seconds = time.perf_counter() - t0
        rounds += 1
        log.info("round %d: %d of %d models trained an epoch in %.1f s", rounds, len(active), len(members), seconds)
        for m, (probs, val_loss) in zip(active, results):
            m.trainer.record_epoch(m.train_loss, val_loss, probs, m.stage()[1], seconds)
    for m in members:
        m.trainer.finish()


def standardize(stack: Stack, members: Sequence[Member], collate: Collator) -> None:
    """`peft.standardize`: each model's head input statistics from its first stage's training
    partition under its initial weights (as `train.input_stats`)."""
    pooled = evaluate(stack, [(m, m.prep.stages[0][0]) for m in members], collate, pooled=True)
    for m, (x, _) in zip(members, pooled):
        x = torch.as_tensor(x, dtype=torch.float32)
        m.weights.set_input_stats(x.mean(0), x.std(0) if len(x) > 1 else torch.ones_like(x[0]))


def score_stack(stack: Stack, members: Sequence[Member], collate: Collator) -> list[tuple[Any, Any]]:
    """Every model's test predictions and scored stimuli (as `train.score`), stacked."""
    with_stimuli = [m for m in members if m.prep.stimuli is not None and len(m.prep.stimuli)]
    pairs = [(m, m.prep.test) for m in members] + [(m, m.prep.stimuli) for m in with_stimuli]
    probs = [p for p, _ in evaluate(stack, pairs, collate)]
    stim = dict(zip(map(id, with_stimuli), probs[len(members) :]))
    return [
        (predictions_frame(m.prep.test, pr, m.job.emotions), stimuli_frame(m.prep, stim.get(id(m))))
        for m, pr in zip(members, probs[: len(members)])
    ]


SHARED = ("source", "strategy", "lora", "adapter", "head", "emotions", "device", "settings")


def check_stackable(preps: Sequence[Prepared]) -> None:
    """Jobs of one stack share the checkpoint, layer k, strategy, PEFT sizes, head, classes,
    device and fine-tuning settings (`SHARED`), and write to their own files."""
    first = preps[0]
    for p in preps[1:]:
        for what in SHARED:
            a, b = getattr(p.job, what), getattr(first.job, what)
            if a != b:
                raise ValueError(
                    f"{p.job.name} cannot be stacked with {first.job.name}: its {what} differs ({a} vs {b})"
                )
        if p.layer != first.layer:
            raise ValueError(f"{p.job.name} cannot be stacked with {first.job.name}: layer {p.layer} vs {first.layer}")
    for what in ("checkpoint_dir", "outputs"):
        values = [getattr(p.job, what) for p in preps if getattr(p.job, what) is not None]
        if len(set(values)) < len(values):
            raise ValueError(f"stacked jobs share a {what}: each needs its own")


def shared_encoder(p: Prepared) -> nn.Module:
    """The frozen encoder every stacked model computes with: loaded once, cut as the jobs keep it."""
    encoder = load_encoder(p.job.source, "cpu")
    cut_encoder(encoder, kept_layers(p, encoder))
    for w in encoder.parameters():
        w.requires_grad_(False)
    return encoder


def build_members(preps: Sequence[Prepared], device: torch.device) -> list[Member]:
    """Each model built as its separate job builds it (seed, load, build: the same initial
    weights); the checkpoint is loaded once per seed and copied, with the generators' state
    after loading restored. Its weights, trainer and streams; the encoder copies are dropped."""
    loaded: dict[int, tuple[nn.Module, dict[str, Any]]] = {}
    members = []
    for p in preps:
        job = p.job
        seed_everything(job.optim.seed)
        if job.optim.seed not in loaded:
            loaded[job.optim.seed] = (load_encoder(job.source, "cpu"), _rng_state())
        encoder, state = loaded[job.optim.seed]
        _set_rng_state(state)
        net, n_kept = load_model(p, copy.deepcopy(encoder), to_device=False)
        weights = MemberWeights(net).to(device)
        fp = fingerprint(p, n_kept, training="stacked")
        built = Built(None, None, n_kept, *count_params(net), fp)  # type: ignore[arg-type]
        rng = MemberRng(member_seed(job.optim.seed, job.fold), device)
        trainer = Trainer(
            weights, job.optim, job.settings, device, None, job.checkpoint_dir, fp, job.emotions, rng, job.name
        )
        members.append(Member(p, weights, trainer, rng, built))
    return members


def run_stacked(jobs: Sequence[FinetuneJob]) -> list[dict[str, Any]]:
    """Train `jobs` (e.g. the folds of one experiment and strategy) as one stack, each writing
    its own outputs as its separate job would; one metrics dict per job, in order. Jobs whose
    encoder cannot be stacked (`rows.why_not_rows`) run separately (`train.run_finetune`)."""
    if not jobs:
        return []
    t_start = time.perf_counter()
    preps = [prepare(j) for j in jobs]
    check_stackable(preps)
    first, st = preps[0], preps[0].job.settings
    threads = compute_threads(first.device, st.threads, first.job.job_threads)
    with job_context(threads, first.job.optim.seed, first.device):
        encoder = shared_encoder(first)
        reason = why_not_rows(encoder, uses_lora(first.job.strategy), st.encoder_mode)
        if reason is None:
            return _run_stack(preps, encoder, t_start)
    log.warning("%d jobs (%s ...) trained separately, not stacked: %s", len(jobs), first.job.name, reason)
    return [run_finetune(j) for j in jobs]


def _run_stack(preps: Sequence[Prepared], encoder: nn.Module, t_start: float) -> list[dict[str, Any]]:
    first, st = preps[0], preps[0].job.settings
    members = build_members(preps, first.device)
    audio: dict[str, np.ndarray] = {}  # one waveform cache for every partition of every model
    for p in preps:
        for part in [x for stage in p.stages for x in stage] + [p.test] + ([p.stimuli] if p.stimuli else []):
            part.cache = audio
    collate = Collator(load_feature_extractor(first.job.source), clip_normalised=st.clip_normalised_waveform)
    job = first.job
    stack = Stack(encoder, members[0].weights.names, job.strategy, job.lora, st, first.device)
    log.info(
        "%d models stacked (%s ...): %d layers kept, %d trainable parameters each, device %s",
        len(members),
        first.job.name,
        members[0].built.n_kept,
        members[0].built.trainable,
        first.device,
    )
    if st.standardize:
        standardize(stack, members, collate)
    for m in members:
        m.trainer.start(m.job.fresh_start)
    padding = Padding()
    fit_stack(stack, members, collate, padding)
    log.info(
        "stack padding: %.3f padded / real frames (%.3f as separate batches)",
        padding.ratio(),
        padding.own / max(1, padding.real),
    )
    extra = {"training": "stacked", "stack_size": len(members), "stack_padding": round(padding.ratio(), 4)}
    results = []
    for m, (pred, stim) in zip(members, score_stack(stack, members, collate)):
        results.append(write(m.prep, m.built, m.trainer, m.weights.trainable_state(), pred, stim, t_start, **extra))
    for m in members:  # only once every output is written: a failure before leaves every model resumable
        m.trainer.clear()
    return results
