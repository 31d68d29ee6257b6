"""Text from a trained model: greedy or temperature / top-k sampling, one prompt at a time.

    model, tok = load_model("runs/demo")
    print(generate(model, tok, "Pagi itu aku", max_new_tokens=80, temperature=0.8, top_k=50, seed=1))

A prompt is a story opening: it is encoded after `<|begin|>`, as documents
were in training, chat-turn markers are suppressed, and generation stops at
`<|end|>` or after max_new_tokens.
When the text outgrows max_seq_len the model sees the last max_seq_len tokens
(a sliding window).
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer

from pahat.errors import PahatError
from pahat.model import LightweightLanguageModel
from pahat.tokenizer import ASSISTANT, BEGIN, END, USER, special_ids


def check_sampling(temperature: float, top_k: int, max_new_tokens: int) -> None:
    """One clear sentence for each bad value."""
    if not temperature >= 0:
        raise PahatError(f"--temperature must be 0 (greedy) or more (got {temperature})")
    if top_k < 0:
        raise PahatError(f"--top-k must be 0 (off) or more (got {top_k})")
    if max_new_tokens < 1:
        raise PahatError(f"--max-new-tokens must be 1 or more (got {max_new_tokens})")


def next_token(
    logits: torch.Tensor, temperature: float, top_k: int, gen: torch.Generator | None, suppress: frozenset[int] = frozenset()
) -> int:
    """Pick from logits (vocab,): argmax at temperature 0, else sample softmax(logits / T) within the top k.

    Token ids in `suppress` are never picked (HF's suppress_tokens).
    """
    if suppress:
        logits = logits.clone()
        logits[list(suppress)] = float("-inf")
    if temperature == 0:
        return int(logits.argmax())
    logits = logits.float() / temperature
    if 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=gen))


@torch.no_grad()
def generate_ids(
    model: LightweightLanguageModel,
    ids: list[int],
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int = 0,
    seed: int | None = None,
    stop_ids: frozenset[int] = frozenset(),
    suppress_ids: frozenset[int] = frozenset(),
    min_new_tokens: int = 0,
) -> list[int]:
    """Continue token ids; returns only the new ones (without the stop token that ended them).

    Before min_new_tokens are out, the stop tokens are suppressed too (HF's min_new_tokens).
    """
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    window = model.config.max_seq_len
    out = list(ids)
    new: list[int] = []
    for _ in range(max_new_tokens):
        context = torch.tensor([out[-window:]], device=device)  # (1, T <= max_seq_len)
        logits, _ = model(context)
        banned = suppress_ids | stop_ids if len(new) < min_new_tokens else suppress_ids
        token = next_token(logits[0, -1].cpu(), temperature, top_k, gen, banned)
        if token in stop_ids:
            break
        out.append(token)
        new.append(token)
    return new


def generate(
    model: LightweightLanguageModel,
    tok: Tokenizer,
    prompt: str,
    max_new_tokens: int = 100,
    temperature: float = 0.0,
    top_k: int = 0,
    seed: int | None = None,
    min_new_tokens: int = 0,
) -> str:
    """The prompt's continuation as text (the prompt itself not repeated)."""
    check_sampling(temperature, top_k, max_new_tokens)
    if not 0 <= min_new_tokens <= max_new_tokens:
        raise PahatError(f"--min-new-tokens must be between 0 and --max-new-tokens ({max_new_tokens}); got {min_new_tokens}")
    if not prompt.strip():
        raise PahatError("the prompt is empty; give a few words to continue, e.g. --prompt 'Pagi itu aku'")
    special = special_ids(tok)
    ids = tok.encode(BEGIN + prompt).ids
    # A story continues as prose: the chat-turn markers (and a second <|begin|>)
    # are suppressed, or the model, which saw mostly conversations, may switch
    # into a dialogue whose turns would run together once the markers are dropped.
    suppress = frozenset({special[BEGIN], special[USER], special[ASSISTANT]})
    new = generate_ids(
        model, ids, max_new_tokens, temperature, top_k, seed,
        stop_ids=frozenset({special[END]}), suppress_ids=suppress, min_new_tokens=min_new_tokens,
    )  # fmt: skip
    return tok.decode(new, skip_special_tokens=True)
