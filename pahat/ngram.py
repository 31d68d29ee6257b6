"""Interpolated modified Kneser-Ney n-gram model over token ids: the count-based baseline for `pahat eval`.

    bits = -KneserNey(order=4, vocab_size=V).fit(train_ids).log2_probs(eval_ids).sum()

The model is Chen & Goodman (1998), "An empirical study of smoothing techniques for
language modeling", section 3.4 in its interpolated form. The highest order n uses raw
counts c(h w). Each lower order k uses continuation counts N1+(. h w), the number of
distinct tokens seen just before the k-gram h w: a word that follows many different
contexts is a likely guess after an unseen one, a word that is frequent only inside one
fixed phrase is not. Every order is interpolated with the one below it, and order 1 with
the uniform distribution over all V ids, so every id, seen or not, gets probability > 0.

Discounts. Per order, (D1, D2, D3+) come from the count-of-counts n1..n4 of that order's
counts by Chen & Goodman's formulas. Where one of them is undefined (n1, n2 or n3 is 0,
as on a tiny corpus or at order 1 over a small vocabulary) or falls outside (0, i], the
whole order uses (0.5, 1.0, 1.5), the fallback of KenLM's `lmplz --discount_fallback`.
Any D_i in (0, i] keeps the model a proper distribution: D_i <= i means a gram never
loses more than its count, and D_i > 0 leaves every seen context mass for the order below.

Exact gram ids, no hashing. The k-gram starting at position i gets the key
id(its first k-1 tokens) * V + its last token, and its id is the rank of that key among
the sorted distinct keys (the empty 0-gram has id 0). Ids are < N, so keys < N * V fit in
int64 for any stream shorter than 2**47 tokens. Finding the grams of another stream is
one np.searchsorted per order.

Edges. The first token of the training stream has no left neighbour: it adds nothing to
continuation counts, so a k-gram seen only at the very start has count 0 at order k < n
(it is scored as unseen there). No padding symbols: at position t of an evaluated stream
the context is the at most n-1 tokens before t, so it is shorter near the start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback default
BASELINE_ORDERS = (3, 4, 5)  # the orders `pahat eval --ngram-order` offers
DEFAULT_BASELINE_ORDER = 4


@dataclass
class _Order:
    """What scoring needs from order k; a gram is a distinct k-gram of the training stream, a context a (k-1)-gram."""

    keys: np.ndarray  # (G_k,) int64, sorted: context id * V + last token; a gram's id is its index here
    numer: np.ndarray  # (G_k,) float64: max(count - D(count), 0)
    denom: np.ndarray  # (G_{k-1},) float64: sum of the counts of the grams that extend each context
    gamma: np.ndarray  # (G_{k-1},) float64: D1 N1 + D2 N2 + D3+ N3+ of each context (gamma before / denom)


def _discounts(counts: np.ndarray) -> tuple[float, float, float]:
    """(D1, D2, D3+) from the count-of-counts of one order's counts (G_k,); see the module docstring for the fallback."""
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == i)) for i in range(1, 5))
    if min(n1, n2, n3) == 0:  # each is a divisor below; n4 == 0 is fine (D3+ = 3)
        return FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if all(0 < di <= i for i, di in enumerate(d, start=1)):
        return d
    return FALLBACK_DISCOUNTS


def _lookup(keys: np.ndarray, context: np.ndarray, last: np.ndarray, vocab_size: int) -> np.ndarray:
    """(L,) id of the gram (context id, last token) at each position; -1 where the context is -1 or the gram unseen."""
    found = np.full(len(last), -1, dtype=np.int64)
    if len(keys) == 0:
        return found
    query = context * vocab_size + last  # negative where context is -1; masked out below
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    hit = (context >= 0) & (keys[pos] == query)
    found[hit] = pos[hit]
    return found


def _at(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """values[ids] as float64, 0 where an id is -1 (or values is empty)."""
    if len(values) == 0:
        return np.zeros(len(ids))
    return np.where(ids >= 0, values[np.maximum(ids, 0)], 0.0)


class KneserNey:
    """Interpolated modified Kneser-Ney over token ids 0..vocab_size-1, orders 1..order."""

    def __init__(self, order: int, vocab_size: int) -> None:
        if order < 1:
            raise ValueError(f"order must be at least 1 (1 = unigrams), got {order}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be at least 1, got {vocab_size}")
        self.order = order
        self.vocab_size = vocab_size
        self.discounts: dict[int, tuple[float, float, float]] = {}  # order k -> (D1, D2, D3+) used
        self._orders: list[_Order] = []  # index k-1 holds order k

    def _ids(self, tokens: np.ndarray, what: str) -> np.ndarray:
        """tokens as (L,) int64, after checking they are 1-D integer ids below vocab_size."""
        arr = np.asarray(tokens)
        if arr.ndim != 1 or (arr.dtype.kind not in "iu" and arr.size > 0):
            raise ValueError(f"the {what} stream must be a 1-D array of integer token ids, got {arr.dtype} of shape {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            bad = arr.min() if arr.min() < 0 else arr.max()
            raise ValueError(
                f"the {what} stream holds token id {bad}, outside 0..{self.vocab_size - 1}; "
                "build the model with the tokenizer's vocab_size that encoded the stream"
            )
        return arr.astype(np.int64)

    def fit(self, tokens: np.ndarray) -> KneserNey:
        """Count every k-gram of the training stream (k = 1..order) and precompute discounted counts per order."""
        ids = self._ids(tokens, "training")
        if len(ids) == 0:
            raise ValueError("the training stream is empty; give fit() at least one token")
        n, V, N = self.order, self.vocab_size, len(ids)

        # Pass 1: distinct grams per order. start_ids[i] is the id of the k-gram starting at i, (N-k+1,).
        keys: list[np.ndarray] = []  # per order k: (G_k,) sorted keys
        counts: list[np.ndarray] = []  # per order k: (G_k,) raw counts, replaced below by continuation counts for k < n
        start_ids = np.zeros(N, dtype=np.int64)  # k = 0: the empty gram, id 0, at every position
        for k in range(1, n + 1):
            m = max(N - k + 1, 0)  # number of k-gram positions
            key = start_ids[:m] * V + ids[k - 1 : k - 1 + m]
            uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
            if k >= 2:
                # The (k-1)-gram right after each distinct k-gram's first token is its suffix; counting the
                # distinct k-grams per suffix gives N1+(. suffix), order k-1's continuation count.
                suffix = start_ids[first + 1]  # (G_k,) ids of (k-1)-grams
                counts[k - 2] = np.bincount(suffix, minlength=len(keys[k - 2]))
            keys.append(uniq)
            counts.append(np.bincount(inv, minlength=len(uniq)))
            start_ids = inv.reshape(-1)

        # Pass 2: discounts, discounted counts and per-context sums, order by order.
        self.discounts, self._orders = {}, []
        for k in range(1, n + 1):
            count = counts[k - 1]  # (G_k,) int64; 0 for grams seen only at the stream's start (k < n)
            d = _discounts(count)
            self.discounts[k] = d
            d_of = np.array([0.0, *d])[np.minimum(count, 3)]  # (G_k,) discount of each gram's count
            context = keys[k - 1] // V  # (G_k,) id of the (k-1)-gram before the last token
            n_contexts = 1 if k == 1 else len(keys[k - 2])
            self._orders.append(
                _Order(
                    keys=keys[k - 1],
                    numer=np.maximum(count - d_of, 0.0),
                    denom=np.bincount(context, weights=count, minlength=n_contexts),
                    gamma=np.bincount(context, weights=d_of, minlength=n_contexts),
                )
            )
        return self

    def log2_probs(self, tokens: np.ndarray, start: int = 1) -> np.ndarray:
        """float64 array of log2 P(tokens[t] | tokens[max(0,t-n+1):t]) for t in range(start, len(tokens))."""
        if not self._orders:
            raise ValueError("the model has not been trained; call fit(tokens) before log2_probs")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        ids = self._ids(tokens, "evaluated")
        if start >= len(ids):
            return np.zeros(0)
        p = np.full(len(ids), 1.0 / self.vocab_size)  # (L,) P_0: uniform over all ids
        context = np.zeros(len(ids), dtype=np.int64)  # (L,) id of the (k-1)-gram ending at t-1; -1 = none
        for o in self._orders:  # k = 1..n; P_k interpolates P_{k-1}, which p holds on entry
            gram = _lookup(o.keys, context, ids, self.vocab_size)  # (L,) id of the k-gram ending at t
            denom = _at(o.denom, context)
            seen = denom > 0  # unseen context (or only at the stream's start): P_k = P_{k-1}
            mixed = (_at(o.numer, gram) + _at(o.gamma, context) * p) / np.where(seen, denom, 1.0)
            p = np.where(seen, mixed, p)
            # Order k+1's context at t is the k-gram ending at t-1; position 0 has none.
            context = np.concatenate(([-1], gram[:-1]))
        return np.log2(p[start:])
