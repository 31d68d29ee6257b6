"""The logits samplers against hand-computed values, against HF `transformers`, and as a sampler (frequencies, seeds)."""

from __future__ import annotations

import math

import pytest
import torch

from pahat.errors import PahatError
from pahat.sampling import (
    SamplingConfig,
    apply_min_p,
    apply_no_repeat_ngram,
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    pick,
    process_logits,
    warp_logits,
)

INF = float("inf")


def kept(logits: torch.Tensor) -> list[list[int]]:
    """Token ids that are not -inf, per row."""
    return [torch.isfinite(row).nonzero().flatten().tolist() for row in logits]


def log_probs(*probs: float) -> torch.Tensor:
    """(1, V) logits whose softmax is `probs`."""
    return torch.tensor([probs]).log()


# --- repetition penalty -------------------------------------------------------------


def test_repetition_penalty_hand_computed() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0], [2.0, -1.0, 0.5, 3.0]])
    before = logits.clone()
    # Row 0 saw 0, 1, 1 (-1 is padding): 2.0 / 2 = 1.0, -1.0 * 2 = -2.0 once (1 is counted once,
    # not squared), 0.5 and 3.0 untouched. Row 1 saw 3 only, and 7 lies outside the vocab: 3.0 / 2 = 1.5.
    history = torch.tensor([[-1, 0, 1, 1], [-1, -1, 3, 7]])
    out = apply_repetition_penalty(logits, history, 2.0)
    assert out.tolist() == [[1.0, -2.0, 0.5, 3.0], [2.0, -1.0, 0.5, 1.5]]
    assert torch.equal(logits, before)  # the input is left alone


def test_repetition_penalty_below_one_rewards() -> None:
    # penalty 0.5: 2.0 / 0.5 = 4.0, -1.0 * 0.5 = -0.5; a zero logit stays 0 either way.
    out = apply_repetition_penalty(torch.tensor([[2.0, -1.0, 0.0]]), torch.tensor([[0, 1, 2]]), 0.5)
    assert out.tolist() == [[4.0, -0.5, 0.0]]


# --- no-repeat-ngram ----------------------------------------------------------------


@pytest.mark.parametrize(
    "history, n, banned",
    [
        ([5, 6, 5], 2, [6]),  # last token 5; the bigram (5, 6) was seen, so 6 may not follow
        ([1, 2, 3, 1, 2], 3, [3]),  # last two (1, 2); the trigram (1, 2, 3) was seen
        ([1, 2, 1, 4, 1], 2, [2, 4]),  # 1 was followed by 2 and by 4
        ([1, 2], 3, []),  # n longer than the history: no complete n-gram
        ([5, 6], 2, []),  # (5, 6) seen, but the last token 6 never led anywhere
        ([3, 1, 3], 1, [1, 3]),  # n = 1: no token may appear twice
        ([-1, -1, 5, 6, 5], 2, [6]),  # padding ignored: the row is 5, 6, 5
        ([5, 6, 5], 0, []),  # 0 is off
    ],
)
def test_no_repeat_ngram(history: list[int], n: int, banned: list[int]) -> None:
    logits = torch.zeros(1, 8)
    out = apply_no_repeat_ngram(logits, torch.tensor([history]), n)
    assert [i for i in range(8) if out[0, i] == -INF] == banned
    assert torch.equal(logits, torch.zeros(1, 8))


def test_no_repeat_ngram_rows_are_independent() -> None:
    # Row 0 is the padded row 1, 2, 1: 1 was followed by 2, so 2 is banned.
    # Row 1 is 3, 4, 3, 4: 4 was followed by 3, so 3 is banned.
    history = torch.tensor([[-1, 1, 2, 1], [3, 4, 3, 4]])
    out = apply_no_repeat_ngram(torch.zeros(2, 6), history, 2)
    assert kept(out) == [[0, 1, 3, 4, 5], [0, 1, 2, 4, 5]]


# --- warpers ------------------------------------------------------------------------


def test_temperature() -> None:
    # [2, -1, 0.5] / 0.5 = [4, -2, 1]; T = 2 halves them instead.
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert apply_temperature(logits, 0.5).tolist() == [[4.0, -2.0, 1.0]]
    assert apply_temperature(logits, 2.0).tolist() == [[1.0, -0.5, 0.25]]


@pytest.mark.parametrize(
    "k, expected",
    [
        (1, [1, 2]),  # the k-th largest is 3, tied: both 3s stay
        (2, [1, 2]),  # top two are 3, 3
        (3, [1, 2, 3]),  # third largest is 2
        (4, [0, 1, 2, 3]),  # fourth is 1
        (0, [0, 1, 2, 3, 4]),  # off
        (5, [0, 1, 2, 3, 4]),  # k = V: off
    ],
)
def test_top_k_keeps_ties(k: int, expected: list[int]) -> None:
    logits = torch.tensor([[1.0, 3.0, 3.0, 2.0, 0.0]])
    assert kept(apply_top_k(logits, k)) == [expected]


def test_top_k_per_row() -> None:
    logits = torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    assert kept(apply_top_k(logits, 2)) == [[1, 2], [0, 1]]


@pytest.mark.parametrize(
    "p, expected",
    [
        # probs by id: [0.15, 0.5, 0.05, 0.3]; ascending 0.05, 0.15, 0.3, 0.5 gives cumulative
        # 0.05, 0.20, 0.50, 1.00, and HF drops a token whose cumulative is <= 1 - p.
        (0.85, [0, 1, 3]),  # 1 - p = 0.15: drops only 0.05 (cum 0.05); 0.95 >= 0.85 kept
        (0.75, [1, 3]),  # 1 - p = 0.25: drops 0.05, 0.15 (cum 0.05, 0.20); 0.5 + 0.3 = 0.8 >= 0.75
        (0.55, [1, 3]),  # 1 - p = 0.45: same two dropped; 0.5 alone < 0.55, so 0.3 stays
        (0.45, [1]),  # 1 - p = 0.55: cum 0.50 <= 0.55 drops 0.3 too; 0.5 >= 0.45
        (1e-6, [1]),  # tiny p: only the top token, never none
        (1.0, [0, 1, 2, 3]),  # off
    ],
)
def test_top_p(p: float, expected: list[int]) -> None:
    # Values of p that sit exactly on a cumulative sum (0.8 and 0.5 here) hang on float32
    # rounding; they are left to the HF parity test below, which shares the rule.
    assert kept(apply_top_p(log_probs(0.15, 0.5, 0.05, 0.3), p)) == [expected]


@pytest.mark.parametrize(
    "min_p, expected",
    [
        (0.2, [0, 1]),  # threshold 0.2 * 0.6 = 0.12: 0.1 < 0.12 goes, 0.3 stays
        (0.45, [0, 1]),  # threshold 0.27: 0.3 is above it
        (0.6, [0]),  # threshold 0.36: only 0.6 left
        (1.0, [0]),  # threshold 0.6: the top token always survives
        (0.0, [0, 1, 2]),  # off
    ],
)
def test_min_p(min_p: float, expected: list[int]) -> None:
    assert kept(apply_min_p(log_probs(0.6, 0.3, 0.1), min_p)) == [expected]


@pytest.mark.parametrize("warp", [lambda x: apply_top_k(x, 1), lambda x: apply_top_p(x, 1e-9), lambda x: apply_min_p(x, 1.0)])
def test_strictest_warpers_keep_exactly_the_argmax(warp) -> None:
    logits = torch.randn(16, 100, generator=torch.Generator().manual_seed(0))
    assert kept(warp(logits)) == [[i] for i in logits.argmax(dim=-1).tolist()]


def test_warp_and_process_cast_to_float32_and_leave_input_alone() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.bfloat16)
    cfg = SamplingConfig(temperature=0.5, top_k=2, repetition_penalty=1.5, no_repeat_ngram_size=2)
    assert process_logits(logits, torch.tensor([[0, 1, 0]]), cfg).dtype == torch.float32
    assert warp_logits(logits, cfg).dtype == torch.float32
    assert logits.tolist() == [[1.0, 2.0, 3.0]]


def test_greedy_skips_warpers() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.equal(warp_logits(logits, SamplingConfig(temperature=0, top_k=1, top_p=0.1)), logits)


# --- pick ---------------------------------------------------------------------------


def test_greedy_pick_is_argmax() -> None:
    logits = torch.tensor([[0.1, 2.0, -1.0], [5.0, 0.0, 4.9], [-3.0, -2.0, -1.0]])
    out = pick(logits, SamplingConfig(temperature=0))
    assert out.dtype == torch.long and out.tolist() == [1, 0, 2]


@pytest.mark.parametrize("temperature", [0.1, 1.0, 10.0])
def test_top_k_one_equals_greedy(temperature: float) -> None:
    logits = torch.randn(32, 50, generator=torch.Generator().manual_seed(1))
    cfg = SamplingConfig(temperature=temperature, top_k=1)
    assert torch.equal(pick(logits, cfg, torch.Generator().manual_seed(2)), logits.argmax(dim=-1))


def test_sampling_is_reproducible_with_a_seed() -> None:
    logits = torch.zeros(200, 10)  # uniform: the draws are all seed
    cfg = SamplingConfig(temperature=1.0)
    a = pick(logits, cfg, torch.Generator().manual_seed(7))
    b = pick(logits, cfg, torch.Generator().manual_seed(7))
    c = pick(logits, cfg, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sampling_frequencies_match_softmax() -> None:
    probs = [0.5, 0.3, 0.15, 0.05]
    n = 20_000
    logits = log_probs(*probs).expand(n, -1)  # one draw per row
    draws = pick(logits, SamplingConfig(temperature=1.0), torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).float() / n
    # The standard error of a frequency is sqrt(p (1 - p) / n) <= sqrt(0.25 / 20000) = 0.0035;
    # 0.02 is over 5 of them, so a correct sampler fails this with probability < 1e-6.
    for f, p in zip(freq.tolist(), probs):
        assert abs(f - p) < 0.02


def test_sampling_stays_inside_the_warped_set() -> None:
    # top_k = 2 on [0.5, 0.3, 0.15, 0.05]: only tokens 0 and 1 may come out, in ratio 5 : 3.
    logits = log_probs(0.5, 0.3, 0.15, 0.05).expand(4000, -1)
    draws = pick(logits, SamplingConfig(top_k=2), torch.Generator().manual_seed(0))
    assert set(draws.tolist()) == {0, 1}


def test_pick_survives_a_fully_banned_row() -> None:
    # no_repeat_ngram can ban every token of a row; pick gives token 0 there and samples the rest.
    logits = torch.tensor([[-INF, -INF, -INF], [-INF, 0.0, -INF]])
    for cfg in (SamplingConfig(temperature=0), SamplingConfig(temperature=0.7, top_k=2, top_p=0.9, min_p=0.1)):
        assert pick(logits, cfg, torch.Generator().manual_seed(0)).tolist() == [0, 1]


# --- parity with HF transformers ----------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        SamplingConfig(temperature=0.7, top_k=20, top_p=0.9, min_p=0.05, repetition_penalty=1.3, no_repeat_ngram_size=2),
        SamplingConfig(temperature=1.5, top_k=5, top_p=0.8, min_p=0.2, repetition_penalty=0.8, no_repeat_ngram_size=3),
        SamplingConfig(temperature=1.0, top_p=0.5, repetition_penalty=2.0, no_repeat_ngram_size=1),
        SamplingConfig(temperature=0.3, min_p=0.1),
    ],
)
def test_matches_hf_logits_processors(cfg: SamplingConfig) -> None:
    hf = pytest.importorskip("transformers.generation.logits_process")
    processors = hf.LogitsProcessorList()
    # HF's generate builds its list the same way: each rule only when it is on, in this order.
    if cfg.repetition_penalty != 1.0:
        processors.append(hf.RepetitionPenaltyLogitsProcessor(penalty=cfg.repetition_penalty))
    if cfg.no_repeat_ngram_size > 0:
        processors.append(hf.NoRepeatNGramLogitsProcessor(cfg.no_repeat_ngram_size))
    if cfg.temperature != 1.0:
        processors.append(hf.TemperatureLogitsWarper(cfg.temperature))
    if cfg.top_k > 0:
        processors.append(hf.TopKLogitsWarper(top_k=cfg.top_k))
    if cfg.top_p < 1.0:
        processors.append(hf.TopPLogitsWarper(top_p=cfg.top_p))
    if cfg.min_p > 0:
        processors.append(hf.MinPLogitsWarper(min_p=cfg.min_p))

    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 50, generator=gen)  # (B, V)
    # Ids from 0..4 so that tokens and n-grams repeat within 16 steps: every config here
    # penalises 5 tokens a row, bans some, and leaves 4 to 14 tokens to sample from.
    history = torch.randint(0, 5, (3, 16), generator=gen)
    expected = processors(history, logits.clone())
    ours = warp_logits(process_logits(logits, history, cfg), cfg)
    assert torch.equal(torch.isinf(ours), torch.isinf(expected))
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize("p", [0.8, 0.5])
def test_top_p_on_a_boundary_matches_hf(p: float) -> None:
    # 1 - p equals a cumulative sum of [0.5, 0.3, 0.15, 0.05] (0.2, 0.5): in exact arithmetic
    # "<=" drops that token; in float32 it is whatever the rounding says, but the same as HF's.
    hf = pytest.importorskip("transformers.generation.logits_process")
    logits = log_probs(0.5, 0.3, 0.15, 0.05)
    assert torch.equal(apply_top_p(logits, p), hf.TopPLogitsWarper(top_p=p)(torch.zeros(1, 0, dtype=torch.long), logits))


# --- config -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, flag",
    [
        ("temperature", -1.0, "--temperature"),
        ("temperature", math.nan, "--temperature"),
        ("temperature", math.inf, "--temperature"),
        ("top_k", -1, "--top-k"),
        ("top_k", 2.5, "--top-k"),
        ("top_p", 0.0, "--top-p"),
        ("top_p", 1.5, "--top-p"),
        ("top_p", math.nan, "--top-p"),
        ("min_p", -0.1, "--min-p"),
        ("min_p", 1.1, "--min-p"),
        ("min_p", math.nan, "--min-p"),
        ("repetition_penalty", 0.0, "--repetition-penalty"),
        ("repetition_penalty", -1.0, "--repetition-penalty"),
        ("repetition_penalty", math.nan, "--repetition-penalty"),
        ("no_repeat_ngram_size", -1, "--no-repeat-ngram-size"),
    ],
)
def test_bad_config_names_the_flag(field: str, value: float, flag: str) -> None:
    with pytest.raises(PahatError, match=f"^{flag} must be .*got {value}"):
        SamplingConfig(**{field: value})


def test_good_config() -> None:
    assert SamplingConfig().greedy is False
    assert SamplingConfig(temperature=0).greedy is True
    SamplingConfig(temperature=0.0, top_k=0, top_p=1.0, min_p=1.0, repetition_penalty=0.5, no_repeat_ngram_size=3)
