"""Decoding: token ids in, token ids out. KV cache, sliding window, padding-correct batches, samplers, beam search.

    model, tok = load_model("runs/demo")
    texts = generate(model, tok, ["Pagi itu aku"], GenerationConfig(temperature=0.8, top_k=50, seed=1))

The engine (`Decoder`, `sample`, `beam_search`) knows nothing about text; the
text helpers at the end (`generate`, `stream`) add the tokenizer, the story
format (`<|begin|>` + prompt, chat-turn markers suppressed) and stop strings.

Sliding window: the model has max_seq_len learned positions (128 for the
seed). When a row's text outgrows them, its oldest tokens are dropped so that
the last `keep_tokens` (3/4 of max_seq_len) remain, and the cache is rebuilt
from those; generation goes on. The same rule runs with and without the cache,
and per row in a batch, so all three give the same tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
from tokenizers import Tokenizer

from pahat.errors import PahatError
from pahat.checkpoint import model_state
from pahat.model import KVCache, LightweightLanguageModel
from pahat.runtime import NumpyCache, NumpyModel
from pahat.sampling import SamplingConfig, pick, process_logits
from pahat.stream import StopStrings, TextStream, decode_stream, token_bytes, truncate_at_stop
from pahat.tokenizer import ASSISTANT, BEGIN, END, USER, special_ids, story_prompt_ids


@dataclass(frozen=True)
class GenerationConfig:
    """Every decoding option, under the names HF `generate` users know."""

    max_new_tokens: int = 100
    min_new_tokens: int = 0  # stop tokens are suppressed until this many are out
    temperature: float = 0.8  # 0 = greedy
    top_k: int = 50
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 1  # > 1: beam search (deterministic; the sampling settings above are not used)
    length_penalty: float = 1.0  # beam score = sum of log-probs / generated_length ** length_penalty
    early_stopping: bool = False  # beam search stops once num_beams hypotheses are finished
    num_return_sequences: int = 1
    stop: tuple[str, ...] = ()  # stop strings, checked on the decoded text, never emitted
    seed: int | None = None
    use_cache: bool = True
    sampling: SamplingConfig = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # SamplingConfig checks its own values and names the flag of a bad one.
        sampling = SamplingConfig(
            self.temperature, self.top_k, self.top_p, self.min_p, self.repetition_penalty, self.no_repeat_ngram_size
        )
        object.__setattr__(self, "sampling", sampling)
        if self.max_new_tokens < 1:
            raise PahatError(f"--max-new-tokens must be 1 or more (got {self.max_new_tokens})")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise PahatError(f"--min-new-tokens must be between 0 and --max-new-tokens ({self.max_new_tokens}); got {self.min_new_tokens}")
        if self.num_beams < 1:
            raise PahatError(f"--num-beams must be 1 or more (got {self.num_beams})")
        if self.num_return_sequences < 1:
            raise PahatError(f"--num-return-sequences must be 1 or more (got {self.num_return_sequences})")
        if self.num_beams > 1 and self.num_return_sequences > self.num_beams:
            raise PahatError(f"--num-return-sequences ({self.num_return_sequences}) cannot exceed --num-beams ({self.num_beams})")
        if self.num_beams == 1 and self.num_return_sequences > 1 and self.temperature == 0:
            raise PahatError("--num-return-sequences > 1 needs sampling (--temperature above 0) or --num-beams; greedy gives one text")
        if not math.isfinite(self.length_penalty):
            raise PahatError(f"--length-penalty must be a finite number (got {self.length_penalty})")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise PahatError(f"--seed must be between 0 and 2**63 - 1 (got {self.seed})")


# Either the torch model or the NumPy runtime: the engine runs on both (parity-tested).
Model = LightweightLanguageModel | NumpyModel


def numpy_backend(model: LightweightLanguageModel) -> NumpyModel:
    """The same weights in the NumPy runtime, which decodes about twice as fast on a CPU."""
    return NumpyModel(model.config.to_dict(), {k: v.detach().cpu().numpy() for k, v in model_state(model).items()})


def max_seq_len_of(model: Model) -> int:
    return model.max_seq_len if isinstance(model, NumpyModel) else model.config.max_seq_len


def keep_tokens(max_seq_len: int) -> int:
    """Tokens kept when a row outgrows the window: 3/4 of it, so the cache is rebuilt every max_seq_len / 4 tokens."""
    return max(1, max_seq_len - max_seq_len // 4)


class Decoder:
    """Rows of token ids and the model state that gives their next-token logits.

    Rows may differ in length: they are left-padded, with an attention mask, so
    each row's logits are what it would get alone. With use_cache, a step
    feeds only the newest token of each row; the cache is rebuilt (prefilled)
    when a row's window moves or the padded batch would outgrow the cache.
    """

    def __init__(self, model: Model, rows: list[list[int]], use_cache: bool = True) -> None:
        if not rows or any(len(r) == 0 for r in rows):
            raise ValueError("every row needs at least one token")
        self.model = model
        self.numpy = isinstance(model, NumpyModel)
        self.rows = [list(r) for r in rows]
        self.start = [0] * len(rows)  # first token of each row's window
        self.window = model.max_seq_len if self.numpy else model.config.max_seq_len
        self.keep = keep_tokens(self.window)
        self.use_cache = use_cache
        self.device = torch.device("cpu") if self.numpy else next(model.parameters()).device
        self.cache: KVCache | NumpyCache | None = None
        self.mask: torch.Tensor | None = None  # (B, width) of what the cache holds; None = no padding
        self.width = 0
        self.fresh = True  # the next call must prefill

    def _slide(self) -> bool:
        """Move the window of every row that outgrew it; True if any moved."""
        moved = False
        for i, row in enumerate(self.rows):
            if len(row) - self.start[i] > self.window:
                self.start[i] = len(row) - self.keep
                moved = True
        return moved

    def _padded(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Left-padded (B, W) ids of every row's window, and its mask (None when no row is padded)."""
        windows = [r[s:] for r, s in zip(self.rows, self.start)]
        width = max(len(w) for w in windows)
        ids = torch.zeros(len(windows), width, dtype=torch.long)
        mask = torch.zeros(len(windows), width, dtype=torch.long)
        for i, w in enumerate(windows):
            ids[i, width - len(w) :] = torch.tensor(w)
            mask[i, width - len(w) :] = 1
        return ids.to(self.device), (None if bool(mask.all()) else mask.to(self.device))

    # inference_mode rather than no_grad: about a tenth less time per token here,
    # since tensors skip version counting. Everything the decoder touches is made in it.
    @torch.inference_mode()
    def logits(self) -> torch.Tensor:
        """Next-token logits (B, vocab), float32, for the rows as they stand."""
        moved = self._slide()
        if not self.use_cache:
            ids, mask = self._padded()
            return self._forward(ids, mask, None)
        if self.fresh or moved or self.width + 1 > self.window:
            ids, mask = self._padded()
            if self.cache is None or self.cache.batch_size != ids.shape[0]:
                self.cache = self._new_cache(ids.shape[0])
            self.cache.reset()
            self.mask, self.width, self.fresh = mask, ids.shape[1], False
            return self._forward(ids, mask, self.cache)
        last = [[r[-1]] for r in self.rows]  # (B, 1)
        last = torch.from_numpy(np.array(last)) if self.numpy else torch.tensor(last, device=self.device)
        if self.mask is not None:
            self.mask = torch.cat([self.mask, self.mask.new_ones(len(self.rows), 1)], dim=1)
        self.width += 1
        return self._forward(last, self.mask, self.cache)

    def _new_cache(self, batch_size: int) -> KVCache | NumpyCache:
        return self.model.new_cache(batch_size) if self.numpy else KVCache.for_model(self.model, batch_size)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | NumpyCache | None) -> torch.Tensor:
        """Last-position logits (B, vocab), float32, from either backend."""
        if self.numpy:
            cache = cache if cache is not None else self.model.new_cache(ids.shape[0])
            return torch.from_numpy(self.model.forward(ids.numpy(), None if mask is None else mask.numpy(), cache))
        out, _ = self.model(ids, attention_mask=mask, kv_cache=cache)
        return out[:, -1].float()

    def append(self, tokens: list[int]) -> None:
        """One new token per row."""
        for row, token in zip(self.rows, tokens):
            row.append(token)

    @torch.inference_mode()
    def reorder(self, parents: list[int]) -> None:
        """Row i becomes a copy of row parents[i] (beam search), its cache included."""
        self.rows = [list(self.rows[p]) for p in parents]
        self.start = [self.start[p] for p in parents]
        index = torch.tensor(parents, device=self.device)
        if self.cache is not None and not self.fresh:
            self.cache.reorder(index.numpy() if self.numpy else index)
        if self.mask is not None:
            self.mask = self.mask[index]

    @torch.inference_mode()
    def history(self) -> torch.Tensor:
        """All tokens of every row (prompt + generated, beyond the window too), right-aligned, -1 = none: (B, L)."""
        length = max(len(r) for r in self.rows)
        out = torch.full((len(self.rows), length), -1, dtype=torch.long)
        for i, r in enumerate(self.rows):
            out[i, length - len(r) :] = torch.tensor(r)
        return out.to(self.device)


def new_generator(cfg: GenerationConfig) -> torch.Generator | None:
    """A CPU generator seeded with cfg.seed, or None (torch's global one) without a seed."""
    return torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None


def needs_history(cfg: GenerationConfig) -> bool:
    """Whether a processor reads the tokens so far (building that tensor costs time per token)."""
    return cfg.repetition_penalty != 1.0 or cfg.no_repeat_ngram_size > 0


def _ban(logits: torch.Tensor, ids: frozenset[int]) -> torch.Tensor:
    """-inf at these token ids; out of place, since logits may be inference-mode tensors."""
    if ids:
        return logits.index_fill(1, torch.tensor(sorted(ids), device=logits.device), float("-inf"))
    return logits


def sample(
    model: Model,
    prompts: list[list[int]],
    cfg: GenerationConfig,
    stop_ids: frozenset[int] = frozenset(),
    suppress_ids: frozenset[int] = frozenset(),
    generator: torch.Generator | None = None,
) -> Iterator[tuple[int, int]]:
    """Greedy or sampled decoding of a batch; yields (row, token) as each token is chosen.

    A row ends at a stop token (not yielded) or after max_new_tokens. The
    caller may stop iterating at any time (stop strings, a closed stream).
    Draws come from `generator` if given (a chat keeps one for its whole
    session), else from a new one seeded with cfg.seed.
    """
    gen = generator if generator is not None else new_generator(cfg)
    decoder = Decoder(model, prompts, cfg.use_cache)
    live = [True] * len(prompts)
    for step in range(cfg.max_new_tokens):
        logits = decoder.logits()
        if needs_history(cfg):
            logits = process_logits(logits, decoder.history(), cfg.sampling)
        logits = _ban(logits, suppress_ids | stop_ids if step < cfg.min_new_tokens else suppress_ids)
        tokens = pick(logits, cfg.sampling, gen).tolist()
        for i, token in enumerate(tokens):
            if live[i] and token in stop_ids:
                live[i] = False
            elif live[i]:
                yield i, token
        if not any(live):
            return
        decoder.append(tokens)  # ended rows keep a token too, so the batch stays aligned; it is never read


@dataclass(frozen=True)
class Hypothesis:
    """One beam-search result: its new tokens (stop token not included), its score, how it ended."""

    tokens: list[int]
    score: float
    ended: bool  # True: it picked a stop token; False: it ran to max_new_tokens


def beam_search(
    model: Model,
    prompt: list[int],
    cfg: GenerationConfig,
    stop_ids: frozenset[int] = frozenset(),
    suppress_ids: frozenset[int] = frozenset(),
) -> list[Hypothesis]:
    """HF-style beam search for one prompt: num_return_sequences hypotheses, best first.

    Scores are summed log-probabilities (after repetition penalty and
    no-repeat-ngram) divided by generated_length ** length_penalty, the stop
    token counted in both when a hypothesis ended with one. A beam
    that picks a stop token becomes a finished hypothesis; with early_stopping
    the search ends once num_beams are finished, otherwise when no running beam
    can beat the worst finished one (HF's heuristic).
    """
    n = cfg.num_beams
    decoder = Decoder(model, [prompt] * n, cfg.use_cache)
    generated: list[list[int]] = [[] for _ in range(n)]
    scores = torch.full((n,), float("-inf"))
    scores[0] = 0.0  # all beams start equal; only one may expand at first, or the n would be copies
    finished: list[tuple[float, list[int], bool]] = []
    done = False  # ended by the stopping rule, not by max_new_tokens

    def normalised(total: float, length: int) -> float:
        return total / max(length, 1) ** cfg.length_penalty

    def worst_kept() -> float:
        return sorted(h[0] for h in finished)[-n] if len(finished) >= n else float("-inf")

    for step in range(cfg.max_new_tokens):
        logprobs = torch.log_softmax(decoder.logits(), dim=-1)
        if needs_history(cfg):
            logprobs = process_logits(logprobs, decoder.history(), cfg.sampling)
        logprobs = logprobs.cpu()
        logprobs = _ban(logprobs, suppress_ids | stop_ids if step < cfg.min_new_tokens else suppress_ids)
        total = (scores[:, None] + logprobs).view(-1)  # (n * vocab,)
        vocab = logprobs.shape[1]
        best = torch.topk(total, 2 * n)  # enough that n survive even if n of them stop
        parents, tokens, new_scores = [], [], []
        for rank, (value, flat) in enumerate(zip(best.values.tolist(), best.indices.tolist())):
            parent, token = divmod(flat, vocab)
            if value == float("-inf"):
                break
            if token in stop_ids:
                if rank < n:  # HF keeps a finished beam only if it ranks among the top n
                    # Its length counts the stop token, whose log-prob is in the sum (as in HF).
                    finished.append((normalised(value, len(generated[parent]) + 1), generated[parent], True))
                continue
            parents.append(parent)
            tokens.append(token)
            new_scores.append(value)
            if len(parents) == n:
                break
        if not parents:
            done = True
            break
        while len(parents) < n:  # fewer live candidates than beams: pad with dead copies
            parents.append(parents[0])
            tokens.append(tokens[0])
            new_scores.append(float("-inf"))
        generated = [generated[p] + [t] for p, t in zip(parents, tokens)]
        scores = torch.tensor(new_scores)
        decoder.reorder(parents)
        decoder.append(tokens)
        if len(finished) >= n:
            if cfg.early_stopping:
                done = True
                break
            best_possible = normalised(float(scores.max()), len(generated[0]))
            if worst_kept() >= best_possible:
                done = True
                break
    # Beams still running when max_new_tokens ran out count as hypotheses too (as in
    # HF); after the stopping rule they do not, or a text cut mid-way could win.
    if not done or len(finished) < cfg.num_return_sequences:
        for total, tokens in zip(scores.tolist(), generated):
            if total > float("-inf"):
                finished.append((normalised(total, len(tokens)), tokens, False))
    finished.sort(key=lambda h: h[0], reverse=True)
    return [Hypothesis(tokens, score, ended) for score, tokens, ended in finished[: cfg.num_return_sequences]]


# ---------------------------------------------------------------- text


def story_ids(tok: Tokenizer) -> tuple[frozenset[int], frozenset[int]]:
    """(stop ids, suppressed ids) for continuing a story: stop at <|end|>; no turn markers, no new document."""
    special = special_ids(tok)
    return frozenset({special[END]}), frozenset({special[BEGIN], special[USER], special[ASSISTANT]})


def encode_prompt(tok: Tokenizer, prompt: str) -> list[int]:
    """`<|begin|>` + the prompt, whose text is encoded literally (a typed "<|end|>" is just text)."""
    if not prompt.strip():
        raise PahatError("the prompt is empty; give a few words to continue, e.g. --prompt 'Pagi itu aku'")
    return story_prompt_ids(tok, prompt)


def generate_ids(
    model: Model,
    prompts: list[list[int]],
    cfg: GenerationConfig,
    stop_ids: frozenset[int] = frozenset(),
    suppress_ids: frozenset[int] = frozenset(),
) -> list[list[list[int]]]:
    """For each prompt, num_return_sequences lists of new token ids (stop token not included)."""
    if cfg.num_beams > 1:
        return [[h.tokens for h in beam_search(model, p, cfg, stop_ids, suppress_ids)] for p in prompts]
    # Sampling several sequences per prompt: the prompt repeated, rows sampled independently.
    rows = [p for p in prompts for _ in range(cfg.num_return_sequences)]
    out: list[list[int]] = [[] for _ in rows]
    for i, token in sample(model, rows, cfg, stop_ids, suppress_ids):
        out[i].append(token)
    k = cfg.num_return_sequences
    return [out[j * k : (j + 1) * k] for j in range(len(prompts))]


def generate(model: Model, tok: Tokenizer, prompts: list[str], cfg: GenerationConfig) -> list[list[str]]:
    """Continue each prompt as a story: for each, num_return_sequences texts (the prompt not repeated).

    With stop strings and sampling, a row's text is watched as it grows and the
    row is done at its first stop string; generation ends when every row is.
    Beam search ranks whole hypotheses, so its texts are cut afterwards.
    """
    ids = [encode_prompt(tok, p) for p in prompts]
    stop, suppress = story_ids(tok)
    if cfg.num_beams > 1 or not cfg.stop:
        results = generate_ids(model, ids, cfg, stop, suppress)
        return [[truncate_at_stop(tok.decode(seq, skip_special_tokens=True), cfg.stop)[0] for seq in seqs] for seqs in results]
    table = token_bytes(tok)
    rows = [p for p in ids for _ in range(cfg.num_return_sequences)]
    texts, watchers = [TextStream(table) for _ in rows], [StopStrings(cfg.stop) for _ in rows]
    out, done = [""] * len(rows), [False] * len(rows)
    for i, token in sample(model, rows, cfg, stop, suppress):
        if done[i]:
            continue
        piece, done[i] = watchers[i].feed(texts[i].push(token))
        out[i] += piece
        if all(done):
            break
    for i in range(len(rows)):
        if not done[i]:
            piece, stopped = watchers[i].feed(texts[i].flush())
            out[i] += piece + ("" if stopped else watchers[i].flush())
    k = cfg.num_return_sequences
    return [out[j * k : (j + 1) * k] for j in range(len(prompts))]


def stream_ids(
    model: Model,
    tok: Tokenizer,
    ids: list[int],
    cfg: GenerationConfig,
    stop_ids: frozenset[int],
    suppress_ids: frozenset[int],
    table: list[bytes] | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[str]:
    """Text pieces as tokens arrive, never half a UTF-8 character, stop strings held back and cut."""
    table = table if table is not None else token_bytes(tok)
    # decode_stream pulls no token after a stop string, so sampling stops there too.
    tokens = (token for _, token in sample(model, [ids], cfg, stop_ids, suppress_ids, generator))
    return decode_stream(tokens, table, cfg.stop)


def check_streamable(cfg: GenerationConfig) -> None:
    if cfg.num_beams > 1 or cfg.num_return_sequences > 1:
        raise PahatError("--stream prints one text as it is sampled; drop --num-beams and --num-return-sequences")


def stream(model: Model, tok: Tokenizer, prompt: str, cfg: GenerationConfig) -> Iterator[str]:
    """Continue one prompt as a story, streaming (sampling or greedy; not beam search). Checks before it yields."""
    check_streamable(cfg)
    stop, suppress = story_ids(tok)
    return stream_ids(model, tok, encode_prompt(tok, prompt), cfg, stop, suppress)
