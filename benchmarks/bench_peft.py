"""Training throughput (utterances/s) of a base-size wav2vec2 cut at layer 6 vs all 12 layers.

Stock `Wav2Vec2Config()` (95M parameters, random weights: speed does not depend on them),
per PEFT strategy, a few AdamW steps on batches of random 3 s audio. Prints a table and the
speed-up of the cut. Run: `.venv/bin/python benchmarks/bench_peft.py [--device cuda]`.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import transformers as T

from xlser.device import resolve_device
from xlser.peft.modules import build_model, count_params


def throughput(base: torch.nn.Module, layer: int, strategy: str, device: torch.device, batch: int, seconds: float,
               steps: int, warmup: int) -> tuple[float, int]:
    model = build_model(copy.deepcopy(base), layer, strategy, 4).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    n = int(seconds * 16000)
    x = torch.randn(batch, n, device=device)
    lengths = torch.full((batch,), n, device=device)
    y = torch.arange(batch, device=device) % 4
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    model.train()
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with amp:
            loss = torch.nn.functional.cross_entropy(model(x, lengths).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0), count_params(model)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--strategies", nargs="+", default=["frozen", "lora", "lora+ba+wg"])
    args = ap.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    base = T.Wav2Vec2Model(T.Wav2Vec2Config()).eval()
    print(f"wav2vec2-base (random), device {device}, torch threads {torch.get_num_threads()}, "
          f"batch {args.batch} x {args.seconds:g} s, {args.steps} timed steps after {args.warmup} warm-up")
    print(f"{'strategy':<12} {'layers':>6} {'trainable':>10} {'utt/s':>8}")
    for strategy in args.strategies:
        res = {}
        for layer in (6, 12):
            res[layer], trainable = throughput(base, layer, strategy, device, args.batch, args.seconds, args.steps,
                                               args.warmup)
            print(f"{strategy:<12} {layer:>6} {trainable:>10} {res[layer]:>8.2f}", flush=True)
        print(f"{strategy:<12} cut-6 / full-12 speed-up: {res[6] / res[12]:.2f}x", flush=True)


if __name__ == "__main__":
    main()
