"""scalelaw.train.model and the training step: parameter counts, gradients through the chunked
cross-entropy, bfloat16 autocast, and the gradient noise scale."""
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from scalelaw.train import (GPT, EncDec, EncDecConfig, GPTConfig, MarkovSource, TrainConfig,  # noqa: E402
                            Translation)
from scalelaw.train.trainer import get_batch, make_corpus, make_model  # noqa: E402

from conftest import TINY  # noqa: E402


def test_parameter_counts():
    gpt = GPT(GPTConfig(vocab=50, context=12, layers=2, heads=2, width=16))
    counts = gpt.parameter_counts()
    assert counts["total"] == sum(p.numel() for p in gpt.parameters())
    assert counts["non_embedding"] == counts["total"] - 50 * 16 - 12 * 16
    encdec = EncDec(EncDecConfig(vocab=20, source_context=6, target_context=5, enc_layers=1, enc_width=8,
                                 dec_layers=2, dec_width=16))
    c = encdec.parameter_counts()
    assert c["encoder"] == sum(p.numel() for p in encdec.encoder.parameters()) - 20 * 8 - 6 * 8
    assert c["decoder"] == sum(p.numel() for p in encdec.decoder.parameters()) - 20 * 16 - 5 * 16
    assert c["total"] == sum(p.numel() for p in encdec.parameters())
    wider = EncDec(EncDecConfig(vocab=20, source_context=6, target_context=5, enc_layers=1, enc_width=16,
                                dec_layers=2, dec_width=16)).parameter_counts()
    assert wider["encoder"] > c["encoder"] and wider["decoder"] > c["decoder"]  # cross-attention reads Ne's width


@pytest.mark.parametrize("kind", ["gpt", "encdec"])
def test_a_training_step_has_the_gradients_of_the_plain_loss(kind):
    """The models' only loss path is the chunked kernel; its gradients equal the logits loss's."""
    torch.manual_seed(0)
    if kind == "gpt":
        model = GPT(GPTConfig(vocab=40, context=12, width=16))
        batch = MarkovSource(40, 1, 0.5).lm_batch(5, 12, torch.Generator().manual_seed(1))
    else:
        model = EncDec(EncDecConfig(vocab=40, source_context=12, target_context=12, enc_width=16, dec_width=32))
        batch = Translation(40, 12).batch(5, torch.Generator().manual_seed(1))

    def grads(loss_fn):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}

    ours, g_ours = grads(lambda: model(*batch))
    weight = model.decoder.tokens.weight
    ref, g_ref = grads(lambda: F.cross_entropy((model(*batch[:-1]) @ weight.T).reshape(-1, 40), batch[-1].reshape(-1)))
    torch.testing.assert_close(ours, ref)
    for name in g_ref:
        torch.testing.assert_close(g_ours[name], g_ref[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("kind", ["gpt", "encdec"])
def test_under_autocast_the_loss_runs_in_bfloat16_and_returns_float32(kind):
    """What --device cuda does to the model, checked on the CPU: the tied output weight and the
    hidden states reach the loss in bfloat16; the loss comes back in float32, close to the float32
    model's; gradients reach the float32 weights."""
    config = TrainConfig(model=kind, corpus="translation" if kind == "encdec" else "markov", **{
        k: v for k, v in TINY.items() if k not in ("steps",)})
    corpus = make_corpus(config)
    model = make_model(config, corpus)
    batch = get_batch(corpus, config, 8, torch.Generator().manual_seed(0))
    plain = model(*batch)
    seen = []
    from scalelaw.train import model as model_module
    original = model_module.linear_cross_entropy

    def spy(hidden, weight, targets, **kw):
        seen.append((hidden.dtype, weight.dtype))
        return original(hidden, weight, targets, **kw)

    model_module.linear_cross_entropy = spy
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(*batch)
    finally:
        model_module.linear_cross_entropy = original
    assert seen == [(torch.bfloat16, torch.bfloat16)]
    assert plain.dtype == low.dtype == torch.float32
    assert abs(low.item() - plain.item()) < 2e-2 * plain.item()
    low.backward()
    tied = model.decoder.tokens.weight
    assert tied.grad is not None and tied.grad.dtype == torch.float32 and torch.isfinite(tied.grad).all()


def test_noise_scale_estimators_are_unbiased():
    """Fed the expected squared norms, E|G_b|^2 = |G|^2 + tr(Sigma) / b, the estimate is exact."""
    from scalelaw.train.trainer import NoiseScale

    grad, trace = 2.0, 5000.0
    noise = NoiseScale(b_small=64, b_big=512)
    for _ in range(3):
        noise.update(torch.tensor(grad + trace / 64), torch.tensor(grad + trace / 512))
    assert noise.value() == pytest.approx(trace / grad, rel=1e-9)


class _Regression(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(-1, 1, dim, dtype=torch.float64))

    def forward(self, x, y):
        return ((x @ self.w - y) ** 2).mean()


def test_noise_scale_matches_per_example_gradients():
    """On a least-squares model held still (lr 0), the logged estimate agrees with
    tr(Sigma) / |G|^2 computed from every example's own gradient."""
    from scalelaw.train.trainer import NoiseScale, train_step

    g = torch.Generator().manual_seed(0)
    dim, pool = 8, 4096
    x = torch.randn(pool, dim, generator=g, dtype=torch.float64)
    y = x @ torch.ones(dim, dtype=torch.float64) + 0.5 * torch.randn(pool, generator=g, dtype=torch.float64)
    model = _Regression(dim)
    per_example = 2 * (x @ model.w.detach() - y)[:, None] * x  # (pool, dim)
    mean = per_example.mean(0)
    truth = float(((per_example - mean) ** 2).sum(1).mean() / (mean @ mean))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    batch = 32
    noise = NoiseScale(b_small=batch // 2, b_big=batch, decay=0.999)
    for _ in range(3000):
        idx = torch.randint(0, pool, (batch,), generator=g)
        train_step(model, model, optimizer, [x[idx], y[idx]], clip=0.0, noise=noise)
    assert noise.value() == pytest.approx(truth, rel=0.15)


def test_a_step_with_the_noise_scale_makes_the_same_update():
    from scalelaw.train.trainer import NoiseScale, train_step

    config = TrainConfig(**TINY)
    corpus = make_corpus(config)
    batch = list(get_batch(corpus, config, 8, torch.Generator().manual_seed(1)))
    models = [make_model(config, corpus) for _ in range(2)]
    for model, noise in zip(models, (None, NoiseScale(4 * 16, 8 * 16))):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        train_step(model, model, optimizer, batch, clip=1.0, noise=noise)
    for a, b in zip(*(m.parameters() for m in models)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_training_steps_under_bfloat16_autocast_track_float32():
    """The trainer's GPU precision path (train_step and evaluate with amp), run on the CPU: ten
    steps with the noise scale measured land near the float32 steps, with float32 weights."""
    from scalelaw.train.trainer import NoiseScale, evaluate, train_step

    config = TrainConfig(**TINY)
    corpus = make_corpus(config)
    held = [list(get_batch(corpus, config, 8, torch.Generator().manual_seed(99)))]
    losses = {}
    for amp in (None, torch.bfloat16):
        model = make_model(config, corpus)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        noise = NoiseScale(4 * 16, 8 * 16)
        for step in range(10):
            batch = list(get_batch(corpus, config, 8, torch.Generator().manual_seed(step)))
            loss = train_step(model, model, optimizer, batch, clip=1.0, noise=noise, amp=amp)
            assert loss.dtype == torch.float32 and torch.isfinite(loss)
        assert all(p.dtype == torch.float32 for p in model.parameters())
        losses[amp] = evaluate(model, held, amp)
    assert losses[torch.bfloat16] == pytest.approx(losses[None], rel=0.02)
