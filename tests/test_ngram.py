"""The Kneser-Ney baseline: sums to 1 over the vocabulary, matches a plain-dict reference written from the formulas, and learns structure."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest

from pahat.ngram import KneserNey


def skewed_stream(rng: np.random.Generator, length: int, vocab: int) -> np.ndarray:
    """Zipf-like draws from ids 0..vocab-1, so counts of 1, 2, 3 and many all occur."""
    weights = 1.0 / np.arange(1, vocab + 1) ** 1.2
    return rng.choice(vocab, size=length, p=weights / weights.sum())


def markov_stream(rng: np.random.Generator, length: int, vocab: int) -> np.ndarray:
    """A first-order chain with peaked, random transitions: longer contexts repeat, yet many grams are rare."""
    transitions = rng.dirichlet(np.full(vocab, 0.3), size=vocab)  # (vocab, vocab), rows sum to 1
    out = np.zeros(length, dtype=np.int64)
    for t in range(1, length):
        out[t] = rng.choice(vocab, p=transitions[out[t - 1]])
    return out


def noisy_pattern(rng: np.random.Generator, length: int) -> np.ndarray:
    """A fixed 8-token pattern over ids 0..9 repeated, 10% of tokens replaced by random ones; id 1 is ambiguous alone."""
    out = np.tile([3, 1, 4, 1, 5, 9, 2, 6], length // 8 + 1)[:length]
    noise = rng.random(length) < 0.1
    out[noise] = rng.integers(0, 10, size=int(noise.sum()))
    return out


# --- A slow reference: plain dicts, straight from Chen & Goodman's formulas, sharing nothing with pahat.ngram.


def reference_model(train: list[int], n: int, vocab: int) -> tuple[Callable[[list[int], int], float], dict[int, tuple[float, float, float]]]:
    """(log2 P(word | history), discounts per order) of an order-n model trained on train."""
    count: dict[int, dict[tuple, int]] = {}
    raw: dict[tuple, int] = {}
    for i in range(len(train) - n + 1):
        gram = tuple(train[i : i + n])
        raw[gram] = raw.get(gram, 0) + 1
    count[n] = raw
    for k in range(1, n):
        longer = {tuple(train[i : i + k + 1]) for i in range(len(train) - k)}
        cont: dict[tuple, int] = {}
        for gram in longer:  # one per distinct left neighbour of gram[1:]
            cont[gram[1:]] = cont.get(gram[1:], 0) + 1
        count[k] = cont

    discounts: dict[int, tuple[float, float, float]] = {}
    for k, table in count.items():
        nr = [sum(1 for c in table.values() if c == i) for i in range(5)]
        try:
            y = nr[1] / (nr[1] + 2 * nr[2])
            d = (1 - 2 * y * nr[2] / nr[1], 2 - 3 * y * nr[3] / nr[2], 3 - 4 * y * nr[4] / nr[3])
            ok = 0 < d[0] <= 1 and 0 < d[1] <= 2 and 0 < d[2] <= 3
        except ZeroDivisionError:
            ok = False
        discounts[k] = d if ok else (0.5, 1.0, 1.5)

    denom: dict[int, dict[tuple, int]] = {k: {} for k in count}
    gamma_numer: dict[int, dict[tuple, float]] = {k: {} for k in count}
    for k, table in count.items():
        for gram, c in table.items():
            h = gram[:-1]
            denom[k][h] = denom[k].get(h, 0) + c
            gamma_numer[k][h] = gamma_numer[k].get(h, 0.0) + discounts[k][min(c, 3) - 1]

    def prob(k: int, h: tuple, w: int) -> float:
        if k == 0:
            return 1.0 / vocab
        lower = prob(k - 1, h[1:], w)
        d = denom[k].get(h, 0)
        if d == 0:
            return lower
        c = count[k].get(h + (w,), 0)
        discount = discounts[k][min(c, 3) - 1] if c > 0 else 0.0
        return max(c - discount, 0) / d + gamma_numer[k][h] / d * lower

    def log2_prob(history: list[int], w: int) -> float:
        k = min(n, len(history) + 1)
        return math.log2(prob(k, tuple(history[len(history) - k + 1 :]), w))

    return log2_prob, discounts


CORPORA = {
    # Formula discounts at most orders, a few hundred contexts seen many times.
    "markov": lambda rng: markov_stream(rng, 3000, 14),
    # Too small for the formulas: every order falls back to (0.5, 1.0, 1.5) somewhere.
    "tiny": lambda rng: skewed_stream(rng, 40, 8),
}


@pytest.mark.parametrize("corpus", sorted(CORPORA))
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_matches_dict_reference(corpus: str, order: int) -> None:
    rng = np.random.default_rng(7)
    train = CORPORA[corpus](rng)
    vocab = 16  # ids 14, 15 never occur in training
    evaluated = np.concatenate([CORPORA[corpus](rng)[:300], [15, 14, 15], train[:50]])
    model = KneserNey(order, vocab).fit(train)
    ref_log2_prob, ref_discounts = reference_model(train.tolist(), order, vocab)

    got = model.log2_probs(evaluated, start=0)
    ev = evaluated.tolist()
    want = np.array([ref_log2_prob(ev[:t], ev[t]) for t in range(len(ev))])
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert set(model.discounts) == set(ref_discounts)
    for k in ref_discounts:
        np.testing.assert_allclose(model.discounts[k], ref_discounts[k], rtol=0, atol=1e-12)


def test_reference_corpora_cover_formula_and_fallback() -> None:
    """The parity test is only worth something if both discount paths ran."""
    rng = np.random.default_rng(7)
    markov = KneserNey(5, 16).fit(CORPORA["markov"](rng))
    tiny = KneserNey(5, 16).fit(CORPORA["tiny"](rng))
    assert any(d != (0.5, 1.0, 1.5) for d in markov.discounts.values())
    assert any(d == (0.5, 1.0, 1.5) for d in tiny.discounts.values())


@pytest.mark.parametrize("length", [2000, 30])
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_sums_to_one_over_vocabulary(order: int, length: int) -> None:
    rng = np.random.default_rng(3)
    vocab = 12
    train = skewed_stream(rng, length, vocab - 1)  # id 11 never occurs
    model = KneserNey(order, vocab).fit(train)
    contexts: list[list[int]] = [[]]
    for size in range(1, 5):
        for _ in range(4):
            i = int(rng.integers(0, length - size))
            seen = train[i : i + size].tolist()
            contexts.append(seen)
            contexts.append([int(rng.integers(0, vocab))] + seen[1:])  # longest context likely unseen, its suffix seen
            contexts.append(rng.integers(0, vocab, size=size).tolist())
        contexts.append([11] * size)  # contains the never-seen id
    for context in contexts:
        probs = [2.0 ** model.log2_probs(np.array(context + [w]), start=len(context))[0] for w in range(vocab)]
        assert math.fsum(probs) == pytest.approx(1.0, abs=1e-9), context
        assert min(probs) > 0


def test_longer_context_learns_structure() -> None:
    train = noisy_pattern(np.random.default_rng(0), 5000)
    held_out = noisy_pattern(np.random.default_rng(1), 1000)
    bits = {n: -KneserNey(n, 10).fit(train).log2_probs(held_out).sum() for n in (1, 2, 3, 5)}
    # Order 2 cannot tell which token follows 1 (4 or 5); order 3 can.
    assert bits[3] < bits[2] < 0.8 * bits[1]
    assert bits[5] < 1.1 * bits[3]


def test_unseen_token_and_short_streams() -> None:
    model = KneserNey(3, 10).fit(noisy_pattern(np.random.default_rng(0), 500) % 9)  # id 9 never occurs
    scores = model.log2_probs(np.array([3, 1, 9, 4, 9]))
    assert scores.shape == (4,) and np.all(np.isfinite(scores))
    assert scores[1] < -5  # 9 after (3, 1): unseen everywhere, so well below anything seen
    assert model.log2_probs(np.array([3]), start=1).shape == (0,)
    assert model.log2_probs(np.array([3, 1, 4]), start=0).shape == (3,)
    tiny = KneserNey(5, 10).fit(np.array([4]))  # shorter than the order: falls back to the unigram level
    assert np.all(np.isfinite(tiny.log2_probs(np.array([4, 4, 2, 4]))))


@pytest.mark.parametrize("bad", [[1, 2, 10], [1, -1, 2], [[1, 2], [3, 4]], [0.5, 1.0]])
def test_bad_token_ids_raise(bad: list) -> None:
    model = KneserNey(3, 10).fit(np.array([1, 2, 3, 1, 2, 3]))
    with pytest.raises(ValueError, match="stream"):
        model.log2_probs(np.array(bad))
    with pytest.raises(ValueError, match="stream"):
        KneserNey(3, 10).fit(np.array(bad))


def test_bad_settings_raise() -> None:
    with pytest.raises(ValueError, match="order"):
        KneserNey(0, 10)
    with pytest.raises(ValueError, match="fit"):
        KneserNey(2, 10).log2_probs(np.array([1, 2]))
    with pytest.raises(ValueError, match="empty"):
        KneserNey(2, 10).fit(np.array([], dtype=np.int64))
