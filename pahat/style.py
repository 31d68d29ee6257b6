"""Style figures of a set of texts, and the same figures for the training corpus, so the two compare.

    generated = style_figures(texts)
    reference = corpus_figures(training_documents, [(len(words), kind) ...])

The figures, all on lowercase words as `pahat corpus check` finds them
(pahat.corpus.words_of: letters, hyphenated and apostrophe words whole):
- aku_kamu_share: (aku + kamu) ÷ all counted personal pronouns, as `corpus check`;
- lexicon_coverage: share of words in wordfreq's Indonesian list, names
  skipped, as `corpus check`;
- distinct_1 / distinct_2: distinct word uni/bigrams ÷ all word uni/bigrams,
  pooled over the texts; low means a narrow, repetitive vocabulary;
- repeated_4gram_rate: share of a text's word 4-grams that repeat an earlier
  4-gram of the same text; high means the model loops;
- mean_sentence_length: words per sentence; sentences split as `pahat bobot`
  splits them, words counted as `corpus check` counts them. The corpus's is
  measured on story paragraphs and assistant turns, what the samples are.

distinct-n and the 4-gram rate fall as a text grows, so the corpus is not
measured whole for them: for each generated text of n words, an excerpt of
n running words is drawn from a training document of the same kind (prose
stories; for chat replies the assistant turns of a conversation), a different
document for each text while there are enough, and the figures are averaged
over REFERENCE_ROUNDS draws with a fixed seed. Where no document of the kind
is long enough, the excerpt runs on across documents, so it still has n words.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pahat.bobot import split_sentences
from pahat.corpus import Document, clean_paragraph, measure, words_of

SampleKind = Literal["prose", "chat"]
REFERENCE_ROUNDS = 20


@dataclass(frozen=True)
class StyleFigures:
    texts: int
    words: int
    aku_kamu_share: float | None
    lexicon_coverage: float | None
    distinct_1: float | None
    distinct_2: float | None
    repeated_4gram_rate: float | None
    mean_sentence_length: float | None

    def to_json(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def paragraphs_of(text: str) -> list[str]:
    return [clean_paragraph(p) for p in text.split("\n") if p.strip()]


def lower_words(text: str) -> list[str]:
    return [w.text.lower() for w in words_of(text)]


def distinct_n(texts: list[list[str]], n: int) -> float | None:
    """Distinct n-grams ÷ all n-grams, pooled over the texts; None when there is no n-gram."""
    grams = [tuple(ws[i : i + n]) for ws in texts for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def repeated_ngram_rate(texts: list[list[str]], n: int = 4) -> float | None:
    """Share of n-grams that already occurred earlier in the same text, pooled; None when there is no n-gram."""
    repeated = total = 0
    for ws in texts:
        seen: set[tuple[str, ...]] = set()
        for i in range(len(ws) - n + 1):
            gram = tuple(ws[i : i + n])
            repeated += gram in seen
            seen.add(gram)
            total += 1
    return repeated / total if total else None


def mean_sentence_length(texts: list[str]) -> float | None:
    lengths = [len(words_of(s)) for t in texts for p in paragraphs_of(t) for s in split_sentences(p)]
    lengths = [n for n in lengths if n]
    return sum(lengths) / len(lengths) if lengths else None


def _voice_and_lexicon(documents: list[Document]) -> tuple[float | None, float | None]:
    """aku-kamu share and lexicon coverage exactly as `pahat corpus check` computes them."""
    if not documents:
        return None, None
    stats = measure(documents, files=0, top_unknown=0)
    return stats.aku_kamu_share, stats.lexicon_coverage


def style_figures(texts: list[str]) -> StyleFigures:
    """The figures of generated texts (each a continuation or a reply, without its prompt)."""
    docs = [Document(Path("<generated>"), i, "prose", "", paragraphs_of(t)) for i, t in enumerate(texts, 1) if t.strip()]
    share, coverage = _voice_and_lexicon(docs)
    words = [lower_words(t) for t in texts]
    return StyleFigures(
        texts=len(texts),
        words=sum(map(len, words)),
        aku_kamu_share=share,
        lexicon_coverage=coverage,
        distinct_1=distinct_n(words, 1),
        distinct_2=distinct_n(words, 2),
        repeated_4gram_rate=repeated_ngram_rate(words, 4),
        mean_sentence_length=mean_sentence_length(texts),
    )


def reference_pools(documents: list[Document]) -> dict[SampleKind, list[list[str]]]:
    """Running lowercase words per training document: stories for prose, assistant turns for chat replies."""
    pools: dict[SampleKind, list[list[str]]] = {"prose": [], "chat": []}
    for d in documents:
        if d.kind == "prose":
            pools["prose"].append([w.text.lower() for w in d.words])
        else:
            replies = d.paragraphs[1::2]  # turns alternate user, assistant
            pools["chat"].append([w for r in replies for w in lower_words(r)])
    return {k: [ws for ws in v if ws] for k, v in pools.items()}


def draw_excerpts(pools: dict[SampleKind, list[list[str]]], lengths: list[tuple[int, SampleKind]], rng: random.Random) -> list[list[str]]:
    """One excerpt of n running words per (n, kind): from a document of that kind long enough to hold it,
    not yet used in this draw while there is one; else from all its documents run together."""
    out = []
    used: set[int] = set()  # id() of the documents drawn from in this round
    for n, kind in lengths:
        pool = pools[kind] or pools["prose"] or pools["chat"]
        if not pool or n == 0:
            out.append([])
            continue
        long_enough = [ws for ws in pool if len(ws) >= n]
        fresh = [ws for ws in long_enough if id(ws) not in used]
        if long_enough:
            ws = rng.choice(fresh or long_enough)
            used.add(id(ws))
        else:
            ws = [w for doc in pool for w in doc]  # shorter than n only if the whole part is
        start = rng.randrange(len(ws) - min(n, len(ws)) + 1)
        out.append(ws[start : start + n])
    return out


def corpus_figures(documents: list[Document], lengths: list[tuple[int, SampleKind]], seed: int = 0, rounds: int = REFERENCE_ROUNDS) -> StyleFigures:
    """The training corpus's figures: voice, lexicon and sentence length over all of it; distinct-n and
    the 4-gram rate over excerpts as long as the generated texts (see the module docstring)."""
    share, coverage = _voice_and_lexicon(documents)
    pools = reference_pools(documents)
    rng = random.Random(seed)
    sums: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    for _ in range(rounds):
        excerpts = draw_excerpts(pools, lengths, rng)
        for name, value in (
            ("distinct_1", distinct_n(excerpts, 1)),
            ("distinct_2", distinct_n(excerpts, 2)),
            ("repeated_4gram_rate", repeated_ngram_rate(excerpts, 4)),
        ):
            if value is not None:
                sums[name] += value
                counted[name] += 1
    mean = lambda name: sums[name] / counted[name] if counted[name] else None  # noqa: E731
    texts = [p for d in documents for p in (d.paragraphs if d.kind == "prose" else d.paragraphs[1::2])]
    return StyleFigures(
        texts=len(documents),
        words=sum(len(d.words) for d in documents),
        aku_kamu_share=share,
        lexicon_coverage=coverage,
        distinct_1=mean("distinct_1"),
        distinct_2=mean("distinct_2"),
        repeated_4gram_rate=mean("repeated_4gram_rate"),
        mean_sentence_length=mean_sentence_length(texts),
    )
