"""Fine-tuning speed of a base-size group-norm wav2vec2 (exact batches): cut at layer 6 vs all 12,
and (`--stack N ...`) fold models trained separately vs stacked.

Stock `Wav2Vec2Config()` (95M parameters, random weights: speed does not depend on them),
per PEFT strategy: AdamW steps on batches of utterances of 1.5-4.5 s through the exact
batched path (`PeftSER` -> `xlser.models.encoder`: per-utterance normalisation, masked group norm,
masked transformer), without and with the CNN feature cache. The figure is the median over
`--repeats` timed runs of `--steps` steps. On CPU by default; `--device cuda` times fp32
and bf16 autocast. Run: `.venv/bin/python benchmarks/bench_peft.py [--device cuda]`.

`--stack 5 10 20`: the study's fine-tune (batch 1, lora+ba+wg, cut at layer 6, the study's
encoder mode `train` with the checkpoint's dropout, LayerDrop and time masking and LoRA
dropout 0.1; `--encoder-mode eval` for xlser's default) timed per utterance-step: N fold
models stepping one utterance each, one after the other (`PeftSER`, as separate jobs do) and
all N in one stacked step (`xlser.peft.stack`), over the same utterances (N folds of
`--steps` utterances of about 3 s, 1.5-5 s, drawn per fold), after a warm-up pass that fills
the CNN feature cache (as every epoch after the first). Also the padding of the stacked
steps (padded / real frames): with every fold's batch plan drawn with the same seed (as
xlser does) and, for contrast, with a seed per fold. The ratios are measured in one run, on
one device. Run: `.venv/bin/python benchmarks/bench_peft.py --stack 5 10 20 [--device cuda]`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time

import numpy as np
import torch
import transformers as T

from xlser.device import resolve_device
from xlser.models.encoder import prepare
from xlser.peft.modules import build_model, count_params


def batch_of(n: int, rng: np.random.Generator, fe) -> tuple[torch.Tensor, torch.Tensor]:
    wavs = [
        rng.normal(0, rng.uniform(0.02, 0.3), int(rng.uniform(1.5, 4.5) * 16000)).astype(np.float32) for _ in range(n)
    ]
    return prepare(fe, wavs)


def steps_per_second(
    base: torch.nn.Module,
    layer: int,
    strategy: str,
    device: torch.device,
    precision: str,
    batch: int,
    steps: int,
    repeats: int,
    cache: bool,
) -> tuple[float, int]:
    model = build_model(copy.deepcopy(base), layer, strategy, 4).to(device)
    if cache:
        model.cache_features()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    fe = T.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False)
    rng = np.random.default_rng(0)
    data = [batch_of(batch, rng, fe) for _ in range(steps)]
    y = torch.arange(batch, device=device) % 4
    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda" and precision == "bf16"
        else contextlib.nullcontext()
    )
    model.train()

    def step(k: int) -> None:
        x, lengths = (t.to(device) for t in data[k])
        if model.features is not None:
            model.features.keys = [("bench", i) for i in range(k * batch, (k + 1) * batch)]
        with amp:
            loss = torch.nn.functional.cross_entropy(model(x, lengths).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for k in range(steps):  # warm-up: kernels, allocator, the exactness self-check, the cache filled
        step(k)
    rates = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for k in range(steps):
            step(k)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(steps / (time.perf_counter() - t0))
    return statistics.median(rates), count_params(model)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--strategies", nargs="+", default=["frozen", "lora", "lora+ba+wg"])
    ap.add_argument("--stack", type=int, nargs="+", help="stack sizes: time separate vs stacked fold models")
    ap.add_argument("--encoder-mode", default="train", choices=["train", "eval"], help="with --stack")
    ap.add_argument("--precision", choices=["fp32", "bf16"], help="with --stack (default: fp32 on CPU, bf16 on CUDA)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.stack:
        from bench_stack import stack_table

        stack_table(args, device)
        return
    precisions = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]
    torch.manual_seed(0)
    base = T.Wav2Vec2Model(T.Wav2Vec2Config()).eval()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"wav2vec2-base, group-norm CNN (random), {name}, batch {args.batch} utterances of 1.5-4.5 s, "
        f"median of {args.repeats} x {args.steps} steps after a warm-up pass"
    )
    print(f"{'strategy':<12} {'prec':>5} {'layers':>6} {'cache':>5} {'trainable':>10} {'steps/s':>8}")
    ratios = []
    for strategy in args.strategies:
        for precision in precisions:
            rates = {}
            for layer in (6, 12):
                for cache in (False, True):
                    rate, trainable = steps_per_second(
                        base, layer, strategy, device, precision, args.batch, args.steps, args.repeats, cache
                    )
                    rates[layer, cache] = rate
                    print(
                        f"{strategy:<12} {precision:>5} {layer:>6} {cache!s:>5} {trainable:>10} {rate:>8.3f}",
                        flush=True,
                    )
            for cache in (False, True):
                ratios.append((strategy, precision, cache, rates[6, cache] / rates[12, cache]))
    print("cut at layer 6 vs 12 (steps/s ratio; the goal with the cache: >= 1.9x for every strategy)")
    for strategy, precision, cache, r in ratios:
        print(f"  {strategy:<12} {precision:>5} cache {'on ' if cache else 'off'}  x{r:.2f}")


if __name__ == "__main__":
    main()
