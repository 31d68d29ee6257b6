"""Streamed decoding: token ids to text as they arrive, never half a character, cut at stop strings.

    for piece in decode_stream(ids, token_bytes(tok), stops=["\\n\\n"]): print(piece, end="", flush=True)

A byte-level BPE token stands for bytes, not characters: an emoji or an
accented letter can be split over several tokens, so decoding each token on
its own would print U+FFFD. TextStream keeps the bytes of an unfinished
character until it is complete. StopStrings holds back only the text that
could still grow into a stop string. Nothing here imports torch, so serving
code can use it without.
"""

from __future__ import annotations

import codecs
from typing import Iterable, Iterator, Sequence

from tokenizers import Tokenizer


def _unicode_to_byte() -> dict[str, int]:
    """Invert GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 for chr(256 + n)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    shifted = (b for b in range(256) if b not in chars)
    chars.update((b, chr(256 + n)) for n, b in enumerate(shifted))
    return {c: b for b, c in chars.items()}


def token_bytes(tok: Tokenizer) -> list[bytes]:
    """The raw bytes of every token id; special tokens are b"" since they are never printed."""
    to_byte = _unicode_to_byte()
    special = {i for i, added in tok.get_added_tokens_decoder().items() if added.special}
    table = [b""] * tok.get_vocab_size(with_added_tokens=True)
    for token, i in tok.get_vocab(with_added_tokens=True).items():
        if i in special:
            continue
        try:
            table[i] = bytes(to_byte[c] for c in token)
        except KeyError:
            raise ValueError(f"token {i} ({token!r}) is not a byte-level token; use a tokenizer made by `pahat prepare`") from None
    return table


class TextStream:
    """Incremental decoder: push token ids, get back the text that is now complete."""

    def __init__(self, table: list[bytes]) -> None:
        self.table = table
        # errors="replace": an invalid byte becomes U+FFFD at once instead of stalling the stream.
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        """The text completed by this token; "" while the bytes so far end inside a character."""
        return self.decoder.decode(self.table[token_id])

    def flush(self) -> str:
        """End of stream: the bytes still held, an unfinished character as U+FFFD; the stream can then be reused."""
        text = self.decoder.decode(b"", final=True)
        self.decoder.reset()
        return text


def truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The text before the first stop string to complete, and whether one did.

    "First to complete" is what a stream sees: the occurrence that ends earliest,
    and of those ending at the same place the longest, so no part of a stop is kept.
    """
    best: tuple[int, int] | None = None  # (end, start)
    for stop in filter(None, stops):
        start = text.find(stop)  # a string's first occurrence is also the one that ends first
        if start >= 0 and (best is None or (start + len(stop), start) < best):
            best = (start + len(stop), start)
    return (text, False) if best is None else (text[: best[1]], True)


class StopStrings:
    """Watches streamed text for stop strings; holds back only what could still be the start of one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        # Every proper prefix of a stop: a text ending in one of these may still become a stop.
        self.prefixes = {s[:k] for s in self.stops for k in range(1, len(s))}
        self.longest_hold = max((len(s) - 1 for s in self.stops), default=0)
        self.held = ""
        self.stopped = False

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit now, stopped?); once stopped, the stop string and all after it are dropped."""
        if self.stopped:
            return "", True
        text = self.held + text
        # Any stop that ends in this feed started inside it or inside the held text, because the
        # held text is the longest tail that is a prefix of a stop; so searching here is enough.
        before, self.stopped = truncate_at_stop(text, self.stops)
        if self.stopped:
            self.held = ""
            return before, True
        hold = next((k for k in range(min(len(text), self.longest_hold), 0, -1) if text[-k:] in self.prefixes), 0)
        self.held = text[len(text) - hold :]
        return text[: len(text) - hold], False

    def flush(self) -> str:
        """End of stream without a stop: the held-back text."""
        text, self.held = self.held, ""
        return text


def decode_stream(ids: Iterable[int], table: list[bytes], stops: Sequence[str] = ()) -> Iterator[str]:
    """Non-empty text pieces for a stream of ids; pulls no id after the one that completes a stop string.

    Not pulling further matters: when `ids` is a generator that runs the model,
    stopping here stops generation.
    """
    stream, watch = TextStream(table), StopStrings(stops)
    for token_id in ids:
        piece, stopped = watch.feed(stream.push(token_id))
        if piece:
            yield piece
        if stopped:
            return
    piece, stopped = watch.feed(stream.flush())
    tail = piece if stopped else piece + watch.flush()
    if tail:
        yield tail
