"""The tokenizer and the text format the model reads: byte-level BPE plus four special tokens.

    tok = train_tokenizer(texts, vocab_size=10000); tok.save("tokenizer.json")
    ids = tok.encode(format_prose("Judul", ["Paragraf satu.", "Paragraf dua."])).ids

Every document the model sees is wrapped the same way, so it learns where a
text starts and ends and who speaks in a conversation:

    prose          <|begin|>Title\\n\\nParagraph one.\\n\\nParagraph two.<|end|>
    conversation   <|begin|><|user|>First turn.<|assistant|>Second turn.<|user|>Third…<|end|>

Conversation turns alternate: odd turns are `<|user|>`, even turns `<|assistant|>`,
so `pahat chat` can put the writer's message after `<|user|>` and let the model
answer after `<|assistant|>`. Byte-level BPE never meets an unknown character:
any UTF-8 text encodes, and decoding the ids gives the text back exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

BEGIN = "<|begin|>"  # a document starts
END = "<|end|>"  # a document ends; generation stops here
USER = "<|user|>"  # the turn of the person who talks to the model
ASSISTANT = "<|assistant|>"  # the model's turn
SPECIAL_TOKENS = (BEGIN, END, USER, ASSISTANT)  # ids 0..3, in this order
MAX_VOCAB = 2**16  # token ids are stored as uint16


def format_prose(title: str, paragraphs: list[str]) -> str:
    """One story as the model reads it: title, blank line, paragraphs separated by blank lines."""
    body = "\n\n".join(paragraphs)
    return f"{BEGIN}{title}\n\n{body}{END}" if title else f"{BEGIN}{body}{END}"


def turn_roles(count: int) -> list[str]:
    """The markers of `count` turns: user, assistant, user, ... (the one rule of the chat format)."""
    return [(USER, ASSISTANT)[i % 2] for i in range(count)]


def format_chat(turns: list[str], open_reply: bool = False) -> str:
    """A conversation: turns alternate user, assistant, user...

    open_reply=True leaves the conversation open after an `<|assistant|>` marker
    (no END), which is the prompt for the model's next reply.
    """
    text = BEGIN + "".join(role + turn for role, turn in zip(turn_roles(len(turns)), turns))
    return text + (ASSISTANT if open_reply else END)


def encode_text(tok: Tokenizer, text: str) -> list[int]:
    """Ids of text written by a person: a special token's spelling in it (say "<|end|>") stays plain text.

    Ids are the same as the text's within a formatted document, because special
    tokens split the text before BPE runs.
    """
    tok.encode_special_tokens = True
    try:
        return tok.encode(text).ids
    finally:
        tok.encode_special_tokens = False


def story_prompt_ids(tok: Tokenizer, prompt: str) -> list[int]:
    """`<|begin|>` + prompt: the start of a story, as in training."""
    return [tok.token_to_id(BEGIN)] + encode_text(tok, prompt)


def chat_prompt_ids(tok: Tokenizer, turns: list[str]) -> list[int]:
    """format_chat(turns, open_reply=True) as ids, each turn's text encoded literally."""
    roles = [tok.token_to_id(role) for role in turn_roles(len(turns) + 1)]
    ids = [tok.token_to_id(BEGIN)]
    for role, turn in zip(roles, turns):
        ids += [role] + encode_text(tok, turn)
    return ids + [roles[-1]]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 10000) -> Tokenizer:
    """Train byte-level BPE on already formatted texts; the special tokens get ids 0..3.

    The vocabulary can come out smaller than vocab_size when the texts are too
    small to supply that many merges; Tokenizer.get_vocab_size() tells.
    """
    if not len(SPECIAL_TOKENS) + 256 <= vocab_size <= MAX_VOCAB:
        raise ValueError(f"vocab size must be between {len(SPECIAL_TOKENS) + 256} and {MAX_VOCAB} (got {vocab_size})")
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    # GPT-2's split (words with their leading space, numbers, punctuation runs) on raw bytes.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: no unknown token ever
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def special_ids(tok: Tokenizer) -> dict[str, int]:
    """{token: id} for the four special tokens; raises if the tokenizer lacks one."""
    ids = {}
    for token in SPECIAL_TOKENS:
        token_id = tok.token_to_id(token)
        if token_id is None:
            raise ValueError(f"tokenizer has no {token} token; it was not made by `pahat prepare`")
        ids[token] = token_id
    return ids


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer.json written by `pahat prepare` and check its special tokens."""
    tok = Tokenizer.from_file(str(path))
    special_ids(tok)
    return tok
