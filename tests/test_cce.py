"""The chunked linear cross-entropy against F.cross_entropy on the full logits."""
import itertools

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from scalelaw.train import linear_cross_entropy  # noqa: E402
from scalelaw.train.cce import LinearCrossEntropy  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def reference(hidden, weight, targets, bias=None, ignore_index=-100, reduction="mean", label_smoothing=0.0,
              z_loss=0.0, softcap=None):
    """The definition: F.cross_entropy on the materialised logits, plus the z-loss."""
    logits = hidden.float() @ weight.float().T
    if bias is not None:
        logits = logits + bias.float()
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    flat, y = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    loss = F.cross_entropy(flat, y, ignore_index=ignore_index, reduction="none", label_smoothing=label_smoothing)
    if z_loss:
        loss = loss + z_loss * torch.where(y != ignore_index, torch.logsumexp(flat, -1) ** 2, 0.0)
    if reduction == "none":
        return loss.reshape(targets.shape)
    return loss.sum() / (y != ignore_index).sum() if reduction == "mean" else loss.sum()


def inputs(n=37, d=16, v=53, dtype=torch.float32, device="cpu", shape=None, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(n, d, generator=g) * scale).to(device, dtype).requires_grad_()
    weight = torch.randn(v, d, generator=g).to(device, dtype).requires_grad_()
    bias = torch.randn(v, generator=g).to(device, dtype).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=g)
    targets[::4] = -100  # ignored targets mixed in
    targets = targets.to(device)
    if shape is not None:
        hidden = hidden.detach().reshape(*shape, d).requires_grad_()
        targets = targets.reshape(shape)
    return hidden, weight, bias, targets


def grads(loss, tensors, seed=1):
    go = torch.randn(loss.shape, generator=torch.Generator().manual_seed(seed)).to(loss.device, loss.dtype)
    return torch.autograd.grad(loss, tensors, go)


OPTIONS = list(itertools.product(["mean", "sum", "none"], [0.0, 0.1], [0.0, 1e-3], [None, 4.0], [False, True]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction, smoothing, z_loss, softcap, with_bias", OPTIONS)
def test_matches_cross_entropy_for_every_option(device, reduction, smoothing, z_loss, softcap, with_bias):
    hidden, weight, bias, targets = inputs(device=device)
    kw = dict(bias=bias if with_bias else None, reduction=reduction, label_smoothing=smoothing, z_loss=z_loss,
              softcap=softcap)
    wrt = [hidden, weight] + ([bias] if with_bias else [])
    ref = reference(hidden, weight, targets, **kw)
    ours = linear_cross_entropy(hidden, weight, targets, chunk_size=8, **kw)  # 37 tokens: odd last chunk
    assert ours.shape == ref.shape and ours.dtype == hidden.dtype
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads(ours, wrt), grads(ref, wrt)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_both_gradient_strategies_agree(reduction):
    hidden, weight, bias, targets = inputs()
    wrt = [hidden, weight, bias]
    options = (-100, 0.1, 1e-3, 4.0, 8)
    eager = LinearCrossEntropy.apply(hidden, weight, bias, targets, reduction, options, False)
    recompute = LinearCrossEntropy.apply(hidden, weight, bias, targets, reduction, options, True)
    torch.testing.assert_close(eager, recompute)
    for a, b in zip(grads(eager, wrt), grads(recompute, wrt)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_batch_time_input_and_default_chunk():
    hidden, weight, bias, targets = inputs(n=36, shape=(4, 9))
    for reduction in ("mean", "none"):
        ours = linear_cross_entropy(hidden, weight, targets, bias=bias, reduction=reduction)
        ref = reference(hidden, weight, targets, bias=bias, reduction=reduction)
        assert ours.shape == ref.shape
        torch.testing.assert_close(ours, ref)
        for a, b in zip(grads(ours, [hidden, weight, bias]), grads(ref, [hidden, weight, bias])):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_float64(reduction):
    hidden, weight, bias, targets = inputs(n=7, d=3, v=5, dtype=torch.float64)
    for options in ((-100, 0.0, 0.0, None, 3), (-100, 0.2, 1e-2, 2.0, 3)):
        for recompute in ((False, True) if reduction != "none" else (True,)):
            fn = lambda h, w, b: LinearCrossEntropy.apply(h, w, b, targets, reduction, options, recompute)  # noqa: E731
            assert torch.autograd.gradcheck(fn, (hidden, weight, bias), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_are_close_to_float32(dtype):
    hidden, weight, bias, targets = inputs(n=64, d=32, v=101, dtype=dtype)
    ours = linear_cross_entropy(hidden, weight, targets, bias=bias, chunk_size=16)
    assert ours.dtype == dtype
    ref = reference(hidden, weight, targets, bias=bias)  # float32 on the same (rounded) inputs
    assert abs(ours.item() - ref.item()) < 2e-2 * abs(ref.item())
    g_ours = grads(ours, [hidden, weight])
    g_ref = grads(ref, [hidden, weight])
    for a, b in zip(g_ours, g_ref):
        assert a.dtype == dtype
        assert torch.allclose(a.float(), b.float(), rtol=5e-2, atol=2e-2)


def test_out_dtype_keeps_the_float32_accumulation_of_a_low_precision_loss():
    hidden, weight, bias, targets = inputs(n=64, d=32, v=101, dtype=torch.bfloat16)
    ref = reference(hidden.double(), weight.double(), targets, bias=bias.double())  # same rounded inputs
    rounded = linear_cross_entropy(hidden, weight, targets, bias=bias)
    kept = linear_cross_entropy(hidden, weight, targets, bias=bias, out_dtype=torch.float32)
    assert rounded.dtype == torch.bfloat16 and kept.dtype == torch.float32
    assert abs(kept.item() - ref.item()) < 1e-5 * ref.item()  # bfloat16 rounds to ~4e-3 relative
    assert abs(kept.item() - ref.item()) <= abs(rounded.item() - ref.item())
    for a, b in zip(grads(kept, [hidden, weight]), grads(rounded, [hidden, weight])):
        assert a.dtype == torch.bfloat16 and torch.equal(a, b)  # the gradient is unchanged


def test_huge_logits_stay_finite():
    hidden, weight, bias, targets = inputs(scale=1e3)  # logits of order 1e4
    logits = hidden.detach() @ weight.detach().T
    assert logits.abs().max() > 1e4
    for kw in ({}, {"z_loss": 1e-4}, {"softcap": 30.0}, {"label_smoothing": 0.1}):
        ours = linear_cross_entropy(hidden, weight, targets, chunk_size=8, **kw)
        ref = reference(hidden, weight, targets, **kw)
        assert torch.isfinite(ours)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-2)
        assert all(torch.isfinite(g).all() for g in grads(ours, [hidden, weight]))


def test_all_targets_ignored_behaves_like_cross_entropy():
    hidden, weight, _, targets = inputs()
    targets = torch.full_like(targets, -100)
    for reduction in ("mean", "sum", "none"):
        ours = linear_cross_entropy(hidden, weight, targets, reduction=reduction)
        ref = F.cross_entropy(hidden @ weight.T, targets, reduction=reduction)
        torch.testing.assert_close(ours, ref, equal_nan=True)  # mean: NaN (0/0); sum: 0; none: zeros
        g_ours, g_ref = grads(ours, [hidden]), grads(ref, [hidden])
        torch.testing.assert_close(g_ours[0], g_ref[0])  # zero gradients


def test_no_grad_forward_gives_the_loss_only():
    hidden, weight, _, targets = inputs()
    with torch.no_grad():
        loss = linear_cross_entropy(hidden, weight, targets)
    assert loss.grad_fn is None
    torch.testing.assert_close(loss, reference(hidden, weight, targets).detach())


def test_bad_arguments_are_refused():
    hidden, weight, bias, targets = inputs()
    with pytest.raises(ValueError, match="reduction"):
        linear_cross_entropy(hidden, weight, targets, reduction="avg")
    with pytest.raises(ValueError, match="targets must lie"):
        linear_cross_entropy(hidden, weight, torch.full_like(targets, 53))
    with pytest.raises(ValueError, match="share D"):
        linear_cross_entropy(hidden, weight[:, :5], targets)
    with pytest.raises(ValueError, match="targets must be shaped"):
        linear_cross_entropy(hidden, weight, targets[:5])
    with pytest.raises(ValueError, match="label_smoothing"):
        linear_cross_entropy(hidden, weight, targets, label_smoothing=1.5)


def test_a_training_step_matches_the_plain_loss():
    """A tiny LM step: embedding, one block, unembedding through the chunked loss; every
    parameter's gradient equals that of F.cross_entropy on the full logits."""
    torch.manual_seed(0)
    vocab, width = 97, 24
    model = torch.nn.ModuleDict({"embed": torch.nn.Embedding(vocab, width),
                                 "block": torch.nn.Sequential(torch.nn.LayerNorm(width), torch.nn.Linear(width, width),
                                                              torch.nn.GELU()),
                                 "head": torch.nn.Linear(width, vocab)})
    tokens = torch.randint(0, vocab, (3, 17))
    inputs_, targets = tokens[:, :-1], tokens[:, 1:]

    def step(loss_fn):
        model.zero_grad()
        hidden = model["block"](model["embed"](inputs_))
        loss = loss_fn(hidden)
        loss.backward()
        return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}

    head = model["head"]
    ours, g_ours = step(lambda h: linear_cross_entropy(h, head.weight, targets, bias=head.bias, chunk_size=5))
    ref, g_ref = step(lambda h: F.cross_entropy(head(h).reshape(-1, vocab), targets.reshape(-1)))
    torch.testing.assert_close(ours, ref)
    assert g_ours.keys() == g_ref.keys()
    for name in g_ref:
        torch.testing.assert_close(g_ours[name], g_ref[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_path_matches_the_torch_path_on_gpu(dtype):
    """Larger sizes than the option sweep: several vocabulary tiles, tiles skipped by the filter,
    and (D = 300) more than one block of D per backward program."""
    from scalelaw.train import cce_triton

    assert cce_triton.available(), "CUDA is present but Triton is not"
    for (n, d, v), kw in itertools.product([(1000, 96, 5003), (300, 300, 1100)],
                                           ({}, {"bias": True, "z_loss": 1e-4}, {"label_smoothing": 0.1, "softcap": 15.0})):
        hidden, weight, bias, targets = inputs(n=n, d=d, v=v, dtype=dtype, device="cuda", scale=0.3)
        kw = dict(kw, bias=bias) if "bias" in kw else kw
        ours = linear_cross_entropy(hidden, weight, targets, **kw)
        torch_path = LinearCrossEntropy.apply(hidden, weight, kw.get("bias"), targets, "mean",
                                              (-100, kw.get("label_smoothing", 0.0), kw.get("z_loss", 0.0),
                                               kw.get("softcap"), 256), True)
        tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=2e-2, atol=2e-3)
        torch.testing.assert_close(ours.float(), torch_path.float(), **tol)
        wrt = [hidden, weight] + ([bias] if "bias" in kw else [])
        for a, b in zip(grads(ours, wrt), grads(torch_path, wrt)):
            torch.testing.assert_close(a.float(), b.float(), **tol)
