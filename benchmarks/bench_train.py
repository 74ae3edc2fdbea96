"""Training throughput and the memory that the chunked cross-entropy saves in a training step.

A reference decoder-only model (4 layers, width 256, 4 heads, context 128, vocabulary 32768,
batch 16 sequences: 2048 tokens per step) is trained with AdamW for a few steps, once with its
loss through ``linear_cross_entropy`` (the trainer's only loss path) and once through the plain
``F.cross_entropy(hidden @ W.T, y)``, each in a fresh process on random tokens.

Printed side by side: tokens per second (median step time after warm-up) and the peak extra
memory of one training step (the rise of VmHWM, reset through /proc/self/clear_refs, over the
resident size before the step), and their ratio, chunked over plain.

Then the cost of logging the gradient noise scale (``grad_noise_scale``: a measured step runs
its batch as two micro-batches and takes a gradient norm) with the trainer's own
``train_step``, on the reference model and on a sweep-sized one (width 32, vocabulary 128,
32 x 64 tokens): the mean step time without it, measuring at every step, and measuring at one
step in ``noise_every`` as the trainer does, interleaved in one process, as ratios to the first
(target: the trainer's at most 1.10).

Run: python benchmarks/bench_train.py [--vocab 32768] [--steps 8] [--noise-steps 30]
"""
import argparse
import json
import subprocess
import sys

from measure import median_time, peak_rise

from scalelaw.train.config import TrainConfig


def one(loss_path: str, vocab: int, steps: int) -> dict:
    """Runs in the child process."""
    import torch
    import torch.nn.functional as F

    from scalelaw.train import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab=vocab, context=128, layers=4, heads=4, width=256))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, vocab, (16, 128))
    y = torch.randint(0, vocab, (16, 128))

    def loss_fn():
        if loss_path == "chunked":
            return model(x, y)
        return F.cross_entropy((model(x) @ model.decoder.tokens.weight.T).reshape(-1, vocab), y.reshape(-1))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        return float(loss)

    step()  # warm-up: AdamW's state and the allocator's pools exist from here on
    optimizer.zero_grad(set_to_none=True)
    _, peak = peak_rise(step)
    return {"tokens_per_s": 16 * 128 / median_time(step, steps), "peak": peak}


def noise_overhead(width: int, layers: int, heads: int, vocab: int, batch: int, context: int, steps: int) -> dict:
    """Median time of ``train_step`` with and without the noise scale, alternating step by step."""
    import statistics
    import time

    import torch

    from scalelaw.train import GPT, GPTConfig
    from scalelaw.train.trainer import NoiseScale, train_step

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab=vocab, context=context, layers=layers, heads=heads, width=width))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, vocab, (batch, context))
    y = torch.randint(0, vocab, (batch, context))
    noise = NoiseScale(batch // 2 * context, batch * context)
    every = TrainConfig.noise_every  # the trainer measures on one step in this many
    times = {"off": [], "on": [], "trainer": []}
    for i in range(3 * steps + 3):
        kind = ("off", "on", "trainer")[i % 3]
        t0 = time.perf_counter()
        for k in range(every):  # a block of steps: "on" measures at each, "trainer" at the last
            measure = kind == "on" or (kind == "trainer" and k == every - 1)
            train_step(model, model, optimizer, [x, y], clip=1.0, noise=noise if measure else None)
        if i >= 3:  # one block of each first, to warm up
            times[kind].append((time.perf_counter() - t0) / every)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--noise-steps", type=int, default=30)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.vocab, args.steps)))
        return
    res = {}
    for path in ("chunked", "plain"):
        proc = subprocess.run([sys.executable, __file__, "--one", path, "--vocab", str(args.vocab),
                               "--steps", str(args.steps)], capture_output=True, text=True, check=True)
        res[path] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"GPT 4 x 256, context 128, vocabulary {args.vocab}, 2048 tokens per step, AdamW; "
          f"median of {args.steps} steps; each loss path in a fresh process")
    print(f"  {'loss path':<10}{'tokens/s':>10}{'step peak MB':>14}")
    for path, r in res.items():
        print(f"  {path:<10}{r['tokens_per_s']:>10.0f}{r['peak'] / 2**20:>14.1f}")
    c, p = res["chunked"], res["plain"]
    print(f"chunked / plain: throughput {c['tokens_per_s'] / p['tokens_per_s']:.2f}x, "
          f"peak step memory {c['peak'] / p['peak']:.3f}x")
    print(f"\ngradient noise scale: train_step median over {args.noise_steps} steps each, interleaved")
    print(f"  {'model':<44}{'off ms':>9}{'measured':>10}{'ratio':>8}{'trainer':>9}")
    for name, shape in (("reference (4 x 256, vocab 32768, 16 x 128)", (256, 4, 4, args.vocab, 16, 128)),
                        ("sweep-sized (2 x 32, vocab 128, 32 x 64)", (32, 2, 2, 128, 32, 64))):
        t = noise_overhead(*shape, steps=args.noise_steps)
        print(f"  {name:<44}{1e3 * t['off']:>9.1f}{1e3 * t['on']:>10.1f}{t['on'] / t['off']:>8.3f}"
              f"{t['trainer'] / t['off']:>9.3f}")
    print(f"(median over blocks of {TrainConfig.noise_every} steps, the default --noise-every; measured: every "
          "step measures the noise scale; trainer: the last step of each block does, as in training)")


if __name__ == "__main__":
    main()
