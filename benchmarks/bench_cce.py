"""Chunked linear cross-entropy: time and peak extra memory of forward + backward, ours against
the references, each configuration in a fresh subprocess.

References, run in the same script:
- baseline: ``F.cross_entropy(h @ W.T, y)``, the full [N, V] logits and their gradient;
- torch_op: PyTorch's chunked ``F.linear_cross_entropy(..., options=LinearCrossEntropyOptions())``;
- cce: the ``cut-cross-entropy`` package (``impl="torch_compile"`` on CPU; its Triton kernel on
  CUDA), where it imports (install it with ``pip install --no-deps cut-cross-entropy``);
- liger: ``liger-kernel``'s fused linear cross-entropy, CUDA only, where it imports.
Ours: ``linear_cross_entropy`` (gradients computed in the forward pass), and ``ours_recompute``,
the same kernel recomputing the logits in backward (the strategy it does not use for mean/sum).
A floor for reference: ``matmuls``, the three matmuls of a training step's loss alone
(``h @ W.T``, then the logit-gradient products with W and h, chunk by chunk as ours, no softmax
and no autograd); no exact method can skip them (short of the gradient filter on GPUs).

Time: median of 5 forward+backward passes after one warm-up. Memory: on CPU the rise of the
process's peak resident set (VmHWM, reset through /proc/self/clear_refs) over its size before
the first, cold pass; on CUDA ``torch.cuda.max_memory_allocated`` over the memory allocated
before. Both count the gradients of h and W, for every method alike.
Targets of issue 5 at N = 8192, V = 50304, D = 256 on CPU: ours at most 0.5x the baseline's and
torch_op's time, and at most 1/30 of the baseline's and 1.5x torch_op's memory.

Run: python benchmarks/bench_cce.py [--device cpu|cuda] [--n 2048,8192] [--v 8192,32768,50304]
"""
import argparse
import json
import subprocess
import sys

from measure import median_time, peak_rise

METHODS = ("baseline", "torch_op", "cce", "liger", "matmuls", "ours", "ours_recompute")


def loss_fn(method: str, device: str):
    import torch
    import torch.nn.functional as F

    if method == "baseline":
        return lambda h, w, y: F.cross_entropy(h @ w.T, y)
    if method == "torch_op":
        return lambda h, w, y: F.linear_cross_entropy(h, w, y, options=torch.nn.LinearCrossEntropyOptions())
    if method == "cce":
        from cut_cross_entropy import linear_cross_entropy as cce

        impl = "cce" if device == "cuda" else "torch_compile"
        return lambda h, w, y: cce(h, w, y, impl=impl)
    if method == "matmuls":
        return _three_matmuls
    if method == "liger":
        if device != "cuda":
            raise ImportError("liger-kernel runs on CUDA only")
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy as liger

        return lambda h, w, y: liger(h, w, y)
    from scalelaw.train.cce import LinearCrossEntropy, default_chunk, linear_cross_entropy

    if method == "ours":
        return lambda h, w, y: linear_cross_entropy(h, w, y)
    return lambda h, w, y: LinearCrossEntropy.apply(h, w, None, y, "mean",
                                                    (-100, 0.0, 0.0, None, default_chunk(w.shape[0])), True)


def _three_matmuls(h, w, y):
    """The matmuls of ours at its default chunk, without the rest: a lower bound on its time."""
    import torch

    from scalelaw.train.cce import default_chunk

    chunk = default_chunk(w.shape[0])
    with torch.no_grad():
        w = w.float()  # float32 throughout, as ours accumulates
        logits = torch.empty(min(chunk, h.shape[0]), w.shape[0], device=h.device)
        grad_h, grad_w = torch.empty(h.shape, device=h.device), torch.zeros_like(w)
        for start in range(0, h.shape[0], chunk):
            hc = h[start:start + chunk].float()
            z = logits[: hc.shape[0]]
            torch.mm(hc, w.t(), out=z)
            torch.mm(z, w, out=grad_h[start:start + chunk])
            grad_w.addmm_(z.t(), hc)
    return _Done()


class _Done:
    """Stands in for a loss: ``backward`` does nothing, ``item`` is NaN."""

    def backward(self):
        pass

    def item(self):
        return float("nan")


def one(method: str, n: int, v: int, d: int, device: str, repeats: int = 5) -> dict:
    """Runs in the child process: time and peak extra memory of one method."""
    import torch

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    try:
        fn = loss_fn(method, device)
    except ImportError as exc:
        return {"skipped": str(exc).splitlines()[0]}
    g = torch.Generator().manual_seed(0)
    h = torch.randn(n, d, generator=g).to(device, dtype).requires_grad_()
    w = (torch.randn(v, d, generator=g) * 0.05).to(device, dtype).requires_grad_()
    y = torch.randint(0, v, (n,), generator=g).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        h.grad = w.grad = None
        loss = fn(h, w, y)
        loss.backward()
        sync()
        return loss.item()

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        loss = step()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        loss, peak = peak_rise(step)
    return {"time": median_time(step, repeats), "peak": peak, "loss": loss}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--n", default="2048,8192")
    ap.add_argument("--v", default="8192,32768,50304")
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--one", nargs=4, metavar=("METHOD", "N", "V", "D"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        method, n, v, d = args.one
        print(json.dumps(one(method, int(n), int(v), int(d), args.device)))
        return
    methods = args.methods.split(",")
    print(f"device {args.device}; D = {args.d}; time = median of 5 forward+backward (ms); "
          "memory = peak extra (MB); each cell a fresh process")
    for n in map(int, args.n.split(",")):
        for v in map(int, args.v.split(",")):
            res = {}
            for m in methods:
                proc = subprocess.run([sys.executable, __file__, "--device", args.device, "--one", m, str(n), str(v),
                                       str(args.d)], capture_output=True, text=True)
                try:
                    res[m] = json.loads(proc.stdout.strip().splitlines()[-1])
                except (IndexError, ValueError):
                    res[m] = {"skipped": (proc.stderr.strip().splitlines() or ["failed"])[-1][:80]}
            print(f"\nN = {n}, V = {v}")
            print(f"  {'method':<16}{'time ms':>10}{'memory MB':>11}{'loss':>9}   ours: time ratio, memory ratio")
            ours = res.get("ours", {})
            for m in methods:
                r = res[m]
                if "skipped" in r:
                    print(f"  {m:<16}  skipped: {r['skipped']}")
                    continue
                ratio = ""
                if "time" in ours and m != "ours":
                    ratio = f"   {ours['time'] / r['time']:.2f}x, {ours['peak'] / max(r['peak'], 1):.3f}x"
                print(f"  {m:<16}{1e3 * r['time']:>10.1f}{r['peak'] / 2**20:>11.1f}{r['loss']:>9.4f}{ratio}")


if __name__ == "__main__":
    main()
