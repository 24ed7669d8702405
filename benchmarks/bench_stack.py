"""`bench_peft.py --stack N ...`: fold models fine-tuned separately vs stacked, per utterance-step.

See `bench_peft.py`'s docstring. Separate: one `PeftSER` per fold, stepped one utterance at a
time (batch 1), as separate jobs step (here one after the other in one process). Stacked: the
same models as one stack (`xlser.peft.stack`), one step = one utterance of every fold. Both
with the CNN feature cache filled by a warm-up pass, the same utterances, the same device.
"""

from __future__ import annotations

import copy
import time
from types import SimpleNamespace

import numpy as np
import torch
import transformers as T

from xlser.config import Optim
from xlser.models.batching import length_buckets
from xlser.models.encoder import prepare
from xlser.peft.modules import STUDY_ADAPTER, STUDY_LORA, build_model, cut_encoder
from xlser.peft.rows import MemberRng, member_seed
from xlser.peft.settings import Finetune
from xlser.peft.stack import MemberWeights, Stack, make_batch, train_step
from xlser.peft.train import Trainer, _autocast

STRATEGY, LAYER, SEED = "lora+ba+wg", 6, 42


def durations(rng: np.random.Generator, n: int) -> np.ndarray:
    """Utterance durations of about 3 s (1.5-5 s)."""
    return np.clip(rng.normal(3.0, 0.8, n), 1.5, 5.0)


def plan(d: np.ndarray, seed: int) -> list[int]:
    """A fold's batch-1 training order (xlser's plan: length buckets, shuffled with `seed`)."""
    return [b[0] for b in length_buckets(list(d), 100.0, 1, seed)]


def folds_of(n: int, steps: int, fe, rng: np.random.Generator) -> list[list[tuple]]:
    """Per fold, `steps` utterances in the order of its batch-1 plan (the same seed for every fold, as xlser)."""
    folds = []
    for f in range(n):
        d = durations(rng, steps)
        wavs = [rng.normal(0, rng.uniform(0.02, 0.3), int(d[i] * 16000)).astype(np.float32) for i in plan(d, SEED)]
        folds.append([(prepare(fe, [w]), ("f", f, i)) for i, w in enumerate(wavs)])
    return folds


def padding_of(encoder: torch.nn.Module, n: int, per_fold: int, same_seed: bool) -> float:
    """Padded / real frames of stacked batch-1 steps over `per_fold` utterances per fold (step s:
    utterance s of every fold's plan), the plans drawn with one seed (xlser) or a seed per fold."""
    rng = np.random.default_rng(n)
    frames = []
    for f in range(n):
        d = durations(rng, per_fold)
        samples = torch.tensor([int(d[i] * 16000) for i in plan(d, SEED if same_seed else SEED + 1 + f)])
        frames.append(encoder._get_feat_extract_output_lengths(samples))
    steps = torch.stack(frames)  # (folds, steps)
    return float(steps.max(0).values.sum() * n / steps.sum())


def stacked_batch(encoder, items, rngs, device):
    values = [v for (v, _), _ in items]
    lengths = torch.cat([n for (_, n), _ in items])
    padded = torch.zeros(len(values), int(lengths.max()))
    for i, v in enumerate(values):
        padded[i, : v.shape[1]] = v[0]
    labels = torch.arange(len(items)) % 4
    collated = {"input_values": padded, "lengths": lengths, "labels": labels}
    return make_batch(encoder, collated, [1] * len(items), rngs, [k for _, k in items], device)


def settings_of(args, device: torch.device) -> Finetune:
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    return Finetune(
        grad_clip=None,
        max_batch_seconds=100.0,
        cache_features=True,
        precision=precision,
        encoder_mode=args.encoder_mode,
        layers_kept="k",
        two_stage_schedule=None,
        cross_val_on=None,
        threads=torch.get_num_threads(),
        standardize=False,
        clip_normalised_waveform=False,
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def separate_pass(base, folds, st: Finetune, device: torch.device):
    """A timed pass of one model stepping through every fold's utterances, one at a time (a
    separate job's step; its weights do not change its speed), after a warm-up pass."""
    optim = Optim(lr=1e-4, eps=1e-8, weight_decay=1e-5, batch_size=1, max_epochs=1, patience=1, seed=SEED)
    net = build_model(copy.deepcopy(base), LAYER, STRATEGY, 4, "linear", STUDY_LORA, STUDY_ADAPTER, st.encoder_mode)
    net = net.to(device)
    net.cache_features()
    trainer = Trainer(net, optim, st, device, None, None, "", ["a", "b", "c", "d"])

    def one_pass() -> None:
        net.train()
        for fold in folds:
            for y, ((values, lengths), key) in enumerate(fold):
                net.features.keys = [key]
                with _autocast(device, st.precision):
                    logits = net(values.to(device), lengths.to(device)).float()
                loss = torch.nn.functional.cross_entropy(logits, torch.tensor([y % 4], device=device))
                trainer.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                trainer.clip_and_step()

    one_pass()  # warm-up: kernels, the exactness self-check, the cache filled
    return one_pass


def stacked_pass(base, folds, st: Finetune, device: torch.device):
    """A timed pass of all folds' models in one stack, one utterance of each per step, after a warm-up pass."""
    optim = Optim(lr=1e-4, eps=1e-8, weight_decay=1e-5, batch_size=1, max_epochs=1, patience=1, seed=SEED)
    members = []
    net = build_model(copy.deepcopy(base), LAYER, STRATEGY, 4, "linear", STUDY_LORA, STUDY_ADAPTER, st.encoder_mode)
    for f in range(len(folds)):
        weights = MemberWeights(net).to(device)  # the same start for every model: speed does not depend on it
        rng = MemberRng(member_seed(SEED, f), device)
        trainer = Trainer(weights, optim, st, device, None, None, "", ["a", "b", "c", "d"], rng)
        members.append(SimpleNamespace(weights=weights, trainer=trainer, rng=rng))
    encoder = cut_encoder(copy.deepcopy(base), LAYER)
    for w in encoder.parameters():
        w.requires_grad_(False)
    stack = Stack(encoder, members[0].weights.names, STRATEGY, STUDY_LORA, st, device)

    def one_pass() -> None:
        for s in range(len(folds[0])):
            batch = stacked_batch(stack.encoder, [fold[s] for fold in folds], [m.rng for m in members], device)
            train_step(stack, members, batch)

    one_pass()
    return one_pass


def per_utterance(run, n_utterances: int, device: torch.device) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process's) per utterance-step of one pass."""
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    _sync(device)
    return (time.perf_counter() - t0) / n_utterances, (time.process_time() - c0) / n_utterances


def stack_table(args, device: torch.device) -> None:
    st = settings_of(args, device)
    torch.manual_seed(0)
    base = T.Wav2Vec2Model(T.Wav2Vec2Config()).eval()
    fe = T.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"wav2vec2-base (random), cut at layer {LAYER}, {STRATEGY}, batch 1, encoder mode {st.encoder_mode}, "
        f"{st.precision}, {name}; {args.steps} utterances of 1.5-5 s (about 3 s) per fold, after a warm-up pass; "
        f"best of {args.repeats} interleaved passes (wall clock; on a CPU also this process's CPU time, which "
        "other processes on a shared machine disturb less)"
    )
    print(
        f"{'models':>6} {'separate ms/utt':>16} {'stacked ms/utt':>15} {'speed-up':>9} {'CPU time':>9} "
        f"{'padding':>8} {'(seed per fold)':>16}  (padding: 1600 utterances per fold)"
    )
    for n in args.stack:
        folds = folds_of(n, args.steps, fe, np.random.default_rng(n))
        pad_same, pad_own = (padding_of(base, n, 1600, same) for same in (True, False))
        runs = {"separate": separate_pass(base, folds, st, device), "stacked": stacked_pass(base, folds, st, device)}
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
        for _ in range(args.repeats):  # interleaved, so that a busy spell of a shared machine hits both
            for k, run in runs.items():
                times[k].append(per_utterance(run, n * args.steps, device))
        (sep, sep_cpu), (stk, stk_cpu) = (np.min(times[k], axis=0) for k in ("separate", "stacked"))
        cpu = f"{sep_cpu / stk_cpu:>8.2f}x" if device.type == "cpu" else f"{'':>9}"
        row = f"{n:>6} {1000 * sep:>16.1f} {1000 * stk:>15.1f} {sep / stk:>8.2f}x {cpu}"
        print(f"{row} {pad_same:>8.3f} {pad_own:>16.3f}", flush=True)
        del runs
