"""Logits samplers: one small function per rule, composed in HF `transformers` order.

    token = pick(process_logits(logits, history, cfg), cfg, generator)  # logits (B, V), history (B, T) -> (B,)

Processors (repetition penalty, no-repeat-ngram) change scores and suit beam search
too; warpers (temperature, top-k, top-p, min-p) only shape the distribution we sample.
Every function takes logits (B, V), leaves its input alone, returns a new tensor, marks
removed tokens -inf and keeps at least one token per row, except no-repeat-ngram (see there).
A history (B, T) holds token ids seen so far, prompt included; an entry < 0 means
"no token" (padding) and is ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pahat.errors import PahatError

NEG_INF = float("-inf")


@dataclass(frozen=True)
class SamplingConfig:
    """How to turn logits into the next token; each field has a CLI flag of the same name."""

    temperature: float = 1.0  # 0 means greedy (argmax); warpers are then skipped
    top_k: int = 0  # keep the k most likely tokens; 0 = off
    top_p: float = 1.0  # nucleus: the smallest set holding probability >= top_p; 1.0 = off
    min_p: float = 0.0  # drop tokens less likely than min_p * the top token's probability; 0 = off
    repetition_penalty: float = 1.0  # > 1 discourages tokens already seen; 1.0 = off
    no_repeat_ngram_size: int = 0  # never repeat an n-gram of this size; 0 = off

    def __post_init__(self) -> None:
        # `not x >= 0` rather than `x < 0` so NaN fails too; inf is no usable value either.
        t, k, p, m, r, n = (self.temperature, self.top_k, self.top_p, self.min_p,
                            self.repetition_penalty, self.no_repeat_ngram_size)  # fmt: skip
        if not (t >= 0 and math.isfinite(t)):
            raise PahatError(f"--temperature must be 0 (greedy) or more (got {t})")
        if not (isinstance(k, int) and k >= 0):
            raise PahatError(f"--top-k must be 0 (off) or more (got {k})")
        if not 0 < p <= 1:
            raise PahatError(f"--top-p must be in (0, 1] (got {p})")
        if not 0 <= m <= 1:
            raise PahatError(f"--min-p must be in [0, 1] (got {m})")
        if not (r > 0 and math.isfinite(r)):
            raise PahatError(f"--repetition-penalty must be > 0 (got {r})")
        if not (isinstance(n, int) and n >= 0):
            raise PahatError(f"--no-repeat-ngram-size must be 0 (off) or more (got {n})")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def apply_repetition_penalty(logits: torch.Tensor, history: torch.Tensor, penalty: float) -> torch.Tensor:
    """Each token seen in the row's history, counted once: a positive logit / penalty, a negative one * penalty.

    Dividing a negative logit would raise it, so HF (after the CTRL paper) multiplies instead.
    """
    B, V = logits.shape
    # Padding (< 0) and ids beyond the vocab go to a spare column V that is dropped after the scatter.
    ids = history.to(logits.device).long()
    ids = ids.masked_fill(ids < 0, V).clamp(max=V)  # (B, T)
    seen = torch.zeros(B, V + 1, dtype=torch.bool, device=logits.device).scatter_(1, ids, True)[:, :V]  # (B, V)
    penalized = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalized, logits)


def apply_no_repeat_ngram(logits: torch.Tensor, history: torch.Tensor, n: int) -> torch.Tensor:
    """Ban (-inf) every token that would complete an n-gram already in the row's history; n = 0 is off.

    The row is the sequence of its non-negative entries. In a pathological row every token
    may be banned (a row of -inf); `pick` then returns token 0 for it instead of failing.
    """
    out = logits.clone()
    V = logits.shape[-1]
    if n <= 0:
        return out
    for b, row in enumerate(history.to(logits.device).long()):
        seq = row[row >= 0]  # (T_b,) padding dropped
        if seq.numel() < n:
            continue  # no complete n-gram yet
        windows = seq.unfold(0, n, 1)  # (T_b - n + 1, n) every n-gram seen
        prefix = seq[seq.numel() - n + 1 :]  # (n - 1,) the n-gram the next token would complete
        banned = windows[(windows[:, :-1] == prefix).all(dim=-1), -1]
        out[b, banned[banned < V]] = NEG_INF
    return out


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits / T for T > 0: below 1 sharpens the distribution, above 1 flattens it."""
    return logits / temperature


def apply_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits per row (and any tied with the k-th); k = 0 or k >= V is off."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits.clone()
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, NEG_INF)


def apply_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus: keep the smallest set of most likely tokens whose probability adds up to >= p; p = 1 is off.

    As HF: sort ascending, drop tokens whose cumulative probability is <= 1 - p,
    always keep the most likely one.
    """
    if p >= 1.0:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1)  # (B, V) ascending
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cum <= 1 - p
    drop_sorted[:, -1] = False  # the top token survives any p
    drop = drop_sorted.scatter(1, order, drop_sorted)  # back to vocab order
    return logits.masked_fill(drop, NEG_INF)


def apply_min_p(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Drop tokens whose probability is below min_p * the row's top probability; min_p = 0 is off.

    With min_p <= 1 the top token never falls below its own threshold, so one always survives.
    """
    if min_p <= 0:
        return logits.clone()
    probs = logits.softmax(dim=-1)  # (B, V)
    return logits.masked_fill(probs < min_p * probs.amax(dim=-1, keepdim=True), NEG_INF)


def process_logits(logits: torch.Tensor, history: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """The processors, for greedy, sampling and beam search alike: repetition penalty, then no-repeat-ngram."""
    # float32 first: a bf16 logit divided by a penalty, or softmaxed later, loses too much.
    out = logits.float()
    if cfg.repetition_penalty != 1.0:
        out = apply_repetition_penalty(out, history, cfg.repetition_penalty)
    if cfg.no_repeat_ngram_size > 0:
        out = apply_no_repeat_ngram(out, history, cfg.no_repeat_ngram_size)
    return out


def warp_logits(logits: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """The warpers, for sampling only, in HF's order: temperature, top-k, top-p, min-p.

    Greedy skips them: none changes which token is the argmax. min-p comes after temperature
    on purpose (HF and llama.cpp do so), so T changes how much min-p removes.
    """
    out = logits.float()
    if cfg.greedy:
        return out
    if cfg.temperature != 1.0:
        out = apply_temperature(out, cfg.temperature)
    if cfg.top_k > 0:
        out = apply_top_k(out, cfg.top_k)
    if cfg.top_p < 1.0:
        out = apply_top_p(out, cfg.top_p)
    if cfg.min_p > 0:
        out = apply_min_p(out, cfg.min_p)
    return out


def pick(logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """The next token per row, (B,) long on the logits' device: argmax when greedy, else a draw from the warped softmax.

    Logits must already be processed. A row that is all -inf (no-repeat-ngram banned every
    token) gets token 0, torch.argmax's answer, rather than an error.
    """
    if cfg.greedy:
        if logits.device.type == "cpu":  # NumPy's argmax of one 10k row costs 1 us, torch's 15
            return torch.from_numpy(logits.detach().numpy().argmax(axis=-1))
        return logits.argmax(dim=-1)
    dead = logits.amax(dim=-1) == NEG_INF  # (B,)
    probs = warp_logits(logits, cfg).softmax(dim=-1)  # (B, V); NaN in dead rows
    # Any valid weights keep multinomial from failing on dead rows; their draw is replaced below.
    probs = torch.where(dead[:, None], 1.0, probs)
    # Drawn on the CPU with a CPU generator, so one seed gives the same tokens on any device.
    drawn = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(logits.device)  # (B,)
    return torch.where(dead, 0, drawn)
