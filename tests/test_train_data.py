"""scalelaw.train.data: corpora with known entropy (Markov sources, noisy translation, the
standard library's text, a user's file)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalelaw.train import MarkovSource, TrainConfig, Translation, train  # noqa: E402


@pytest.mark.parametrize("vocab,order,concentration", [(16, 1, 0.3), (8, 2, 0.2), (4, 3, 1.0)])
def test_markov_entropy_rate_matches_a_long_sample(vocab, order, concentration):
    source = MarkovSource(vocab, order, concentration, seed=3)
    pi = source.stationary.reshape([vocab] * order)
    moved = np.einsum("a...x,a...->...x", source.transition.reshape([vocab] * (order + 1)), pi)
    np.testing.assert_allclose(moved.reshape(-1), source.stationary, atol=1e-10)  # stationary
    tokens = source.sample(400, 300, torch.Generator().manual_seed(0)).numpy()
    context = sum(tokens[:, i:tokens.shape[1] - order + i] * vocab ** (order - 1 - i) for i in range(order))
    nll = -np.log(source.transition[context, tokens[:, order:]])
    assert abs(nll.mean() - source.entropy) < 0.01 * source.entropy


def test_markov_targets_without_a_full_context_are_ignored():
    inputs, targets = MarkovSource(8, 3, 0.5).lm_batch(4, 10, torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (4, 10)
    assert (targets[:, :2] == -100).all() and (targets[:, 2:] >= 0).all()
    assert torch.equal(inputs[:, 3:], targets[:, 2:-1])  # targets are the inputs shifted by one


def test_translation_noise_rate_and_entropy():
    task = Translation(vocab=8, source_length=20, noise=0.3, seed=1)
    source, inputs, target = task.batch(3000, torch.Generator().manual_seed(0))
    right = (target == task.translate(source)).float().mean().item()
    assert abs(right - (0.7 + 0.3 / 8)) < 0.01
    q = 0.7 + 0.3 / 8
    assert task.entropy == pytest.approx(-(q * np.log(q) + 7 * (0.3 / 8) * np.log(0.3 / 8)))
    assert torch.equal(inputs[:, 1:], target[:, :-1]) and (inputs[:, 0] == 0).all()


def test_text_corpus_from_a_users_file(tmp_path):
    text = tmp_path / "book.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    meta = train(TrainConfig(corpus=str(text), steps=4, batch_size=4, context=16, width=16, eval_every=2),
                 tmp_path / "run", progress=False)
    assert meta["corpus"]["kind"] == "text" and meta["corpus"]["entropy"] is None


def test_stdlib_corpus_is_deterministic_and_held_out_at_the_end():
    from scalelaw.train import TextCorpus

    a, b = TextCorpus(limit_bytes=200_000), TextCorpus(limit_bytes=200_000)
    assert torch.equal(a.splits["train"], b.splits["train"]) and torch.equal(a.splits["val"], b.splits["val"])
    assert len(a.splits["train"]) + len(a.splits["val"]) == 200_000 and len(a.splits["val"]) == 20_000
    x, y = a.lm_batch(3, 32, torch.Generator().manual_seed(0), "val")
    assert torch.equal(x[:, 1:], y[:, :-1]) and int(x.max()) < 256
