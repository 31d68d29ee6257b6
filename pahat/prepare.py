"""Turn a corpus folder into training data: a tokenizer and token ids for train and validation.

    pahat prepare --corpus corpus/ --out data/ [--vocab-size 10000] [--val-fraction 0.05] [--seed 0]

Writes DATA_DIR/tokenizer.json, train.bin and val.bin (uint16 token ids, read
with np.memmap) and prepare.json (what went in, what was dropped, the sizes).
The corpus is read by pahat.corpus, the reader behind `pahat corpus check`, so
a malformed file or line is reported as `path:line: reason`, skipped, and the
run goes on.
"""

from __future__ import annotations

import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pahat import __version__
from pahat.corpus import Document, read_corpus, words_of
from pahat.errors import PahatError
from pahat.files import atomic_write_json, atomic_write_text, atomic_write_tokens
from pahat.tokenizer import ASSISTANT, BEGIN, END, MAX_VOCAB, SPECIAL_TOKENS, USER, format_chat, format_prose, special_ids, train_tokenizer

PREPARE_FORMAT = 1
# By default a repeated paragraph shorter than this many words is kept: lines
# such as "Ya." or a scene break "***" legitimately recur in a novel, and
# dropping them would break its dialogue. Longer exact repeats are copy-paste
# slips. `--dedupe-min-words 0` drops every exact repeat.
MIN_DEDUPE_WORDS = 5


@dataclass(frozen=True)
class Split:
    """One split's documents, in corpus order."""

    name: str  # "train" or "val"
    documents: list[Document]


def document_text(doc: Document) -> str:
    """The document in the model's format (see pahat.tokenizer)."""
    if doc.kind == "conversation":
        return format_chat(doc.paragraphs)
    return format_prose(doc.title, doc.paragraphs)


def parse_document_text(text: str, path: Path = Path("<text>"), line: int = 1) -> Document:
    """The inverse of document_text: one formatted document (its <|begin|>/<|end|> optional) as a Document.

    Prose comes back as title + paragraphs; a prose document written without a
    title cannot be told apart, and its first paragraph becomes the title.
    """
    text = text.removeprefix(BEGIN).removesuffix(END)
    if text.startswith(USER):
        turns = re.split(f"{re.escape(USER)}|{re.escape(ASSISTANT)}", text)[1:]
        return Document(path, line, "conversation", "", turns)
    title, *paragraphs = text.split("\n\n")
    return Document(path, line, "prose", title, paragraphs)


def documents_of_stream(text: str, path: Path = Path("<tokens>")) -> list[Document]:
    """The documents of a decoded token file (train.bin, val.bin), in order; `line` numbers them from 1."""
    pieces = [p for p in text.split(END) if p.strip()]
    return [parse_document_text(p, path, i) for i, p in enumerate(pieces, 1)]


def content_characters(text: str) -> int:
    """Characters of a formatted text without its special tokens: what bits-per-character divides by."""
    for token in SPECIAL_TOKENS:
        text = text.replace(token, "")
    return len(text)


def dedupe(docs: list[Document], min_words: int = MIN_DEDUPE_WORDS) -> tuple[list[Document], dict[str, int]]:
    """Drop exact repeats: prose paragraphs of >= min_words words, and whole conversations.

    Turns are never dropped one by one, which would break the alternation of
    speakers; a conversation goes only when all its turns repeat another's.
    The first occurrence (in corpus order) stays. A story left with no
    paragraph is dropped.
    """
    seen_paragraphs: set[str] = set()
    seen_conversations: set[tuple[str, ...]] = set()
    kept: list[Document] = []
    dropped = {"duplicate_paragraphs": 0, "duplicate_conversations": 0, "emptied_documents": 0}
    for doc in docs:
        if doc.kind == "conversation":
            key = tuple(doc.paragraphs)
            if key in seen_conversations:
                dropped["duplicate_conversations"] += 1
                continue
            seen_conversations.add(key)
            kept.append(doc)
            continue
        paragraphs = []
        for p in doc.paragraphs:
            if p in seen_paragraphs:
                dropped["duplicate_paragraphs"] += 1
                continue
            if len(words_of(p)) >= min_words:
                seen_paragraphs.add(p)
            paragraphs.append(p)
        if not paragraphs:
            dropped["emptied_documents"] += 1
            continue
        kept.append(Document(doc.path, doc.line, doc.kind, doc.title, paragraphs) if len(paragraphs) < len(doc.paragraphs) else doc)
    return kept, dropped


def split_documents(docs: list[Document], val_fraction: float, seed: int) -> tuple[Split, Split]:
    """Split by whole document, prose and conversations separately, reproducibly from seed.

    Each part gives round(val_fraction * n) documents to validation, at least one
    when the part has two or more, so both kinds of text are measured.
    """
    rng = random.Random(seed)
    train: list[Document] = []
    val: list[Document] = []
    for kind in ("prose", "conversation"):
        part = [d for d in docs if d.kind == kind]
        if not part:
            continue
        n_val = round(val_fraction * len(part))
        if len(part) >= 2:
            n_val = min(max(n_val, 1), len(part) - 1)
        else:
            n_val = 0
        chosen = set(rng.sample(range(len(part)), n_val))
        train += [d for i, d in enumerate(part) if i not in chosen]
        val += [d for i, d in enumerate(part) if i in chosen]
    return Split("train", train), Split("val", val)


def _split_stats(split: Split, texts: list[str], tokens: int) -> dict:
    characters = sum(content_characters(t) for t in texts)
    return {
        "documents": len(split.documents),
        "prose_documents": sum(d.kind == "prose" for d in split.documents),
        "conversations": sum(d.kind == "conversation" for d in split.documents),
        "words": sum(len(d.words) for d in split.documents),
        "characters": characters,
        "tokens": tokens,
        "characters_per_token": round(characters / tokens, 4) if tokens else None,
        "document_ids": [d.where for d in split.documents],
    }


def prepare(
    corpus_dir: str | Path,
    out_dir: str | Path,
    vocab_size: int = 10000,
    val_fraction: float = 0.05,
    seed: int = 0,
    warn: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    dedupe_min_words: int = MIN_DEDUPE_WORDS,
) -> dict:
    """Read, clean, split, train the tokenizer, encode, and write DATA_DIR; returns prepare.json's content."""
    if not len(SPECIAL_TOKENS) + 256 <= vocab_size <= MAX_VOCAB:
        raise PahatError(f"--vocab-size must be between {len(SPECIAL_TOKENS) + 256} and {MAX_VOCAB} (got {vocab_size}); 10000 is the seed's")
    if not 0.0 < val_fraction < 1.0:
        raise PahatError(f"--val-fraction must be between 0 and 1 (got {val_fraction}); 0.05 keeps 5% for validation")
    corpus = read_corpus(corpus_dir)
    for problem in corpus.problems:
        warn(f"skipped {problem}")
    if not corpus.documents:
        raise PahatError(f"no readable document in {corpus_dir}; fix the problems listed above and run again")
    docs, dropped = dedupe(corpus.documents, dedupe_min_words)
    if len(docs) < 2:
        raise PahatError(
            f"{corpus_dir} holds only {len(docs)} usable document; add at least one more so validation has its own text"
        )
    train, val = split_documents(docs, val_fraction, seed)

    train_texts = [document_text(d) for d in train.documents]
    val_texts = [document_text(d) for d in val.documents]
    tok = train_tokenizer(train_texts, vocab_size)  # validation text stays unseen, as in evaluation
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # prepare.json marks a complete folder (train refuses a folder without it):
    # it goes first and comes back last, so a kill in between never pairs new
    # token files with an old tokenizer.
    (out / "prepare.json").unlink(missing_ok=True)

    stats = {}
    for split, texts in ((train, train_texts), (val, val_texts)):
        encoded = tok.encode_batch(texts)
        ids = np.fromiter((i for e in encoded for i in e.ids), dtype=np.int64)
        if ids.size and ids.max() >= 2**16:
            raise PahatError(f"token id {ids.max()} does not fit uint16; use --vocab-size 65536 or less")
        atomic_write_tokens(out / f"{split.name}.bin", ids.astype(np.uint16))
        stats[split.name] = _split_stats(split, texts, int(ids.size))

    tok_path = out / "tokenizer.json"
    atomic_write_text(tok_path, tok.to_str(pretty=True))
    report = {
        "format": PREPARE_FORMAT,
        "pahat_version": __version__,
        "corpus": str(Path(corpus_dir).resolve()),
        "vocab_size": tok.get_vocab_size(),
        "requested_vocab_size": vocab_size,
        "val_fraction": val_fraction,
        "seed": seed,
        "special_tokens": special_ids(tok),
        "token_dtype": "uint16",
        "dedupe_min_words": dedupe_min_words,
        "dropped": dropped,
        "problems": [str(p) for p in corpus.problems],
        "splits": stats,
    }
    atomic_write_json(out / "prepare.json", report)  # written last: its presence means the folder is complete
    return report


def format_prepare_report(report: dict) -> str:
    """A few lines for the terminal."""
    lines = [f"vocabulary: {report['vocab_size']} tokens (asked for {report['requested_vocab_size']})"]
    for name in ("train", "val"):
        s = report["splits"][name]
        lines.append(
            f"{name:>5}: {s['documents']} documents ({s['prose_documents']} prose, {s['conversations']} conversations), "
            f"{s['words']:,} words, {s['characters']:,} characters, {s['tokens']:,} tokens, "
            f"{s['characters_per_token']} characters per token"
        )
    d = report["dropped"]
    lines.append(
        f"dropped: {d['duplicate_paragraphs']} duplicate paragraphs, {d['duplicate_conversations']} duplicate conversations, "
        f"{d['emptied_documents']} emptied documents; {len(report['problems'])} problems skipped"
    )
    return "\n".join(lines)
