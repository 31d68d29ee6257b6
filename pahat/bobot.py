"""The seed's "rumus iseng" (Bab 1): the final weight of every word in every sentence.

    print(format_weights(word_weights("Aku merasa sangat senang.", 0.1), 0.1))  # Aku 4.1 … senang 4.4

Bobot Akhir_kata = (Bobot Awal × Indeks Kata) + Total Kata Dalam Kalimat, index
1-based inside the sentence, summed in decimal so 1.1 × 3 + 4 is 7.3, not
7.300000000000001. Any finite bobot awal is allowed, zero and negative too.

Sentences end at . ! ? … (or a run such as "..." or "?!", closing quotes and
brackets staying with the sentence) and at every line break, so a title line or
a hard-wrapped line is its own sentence. An end mark does not end the sentence
when the next word starts in lowercase (`"Kamu di mana?" tanya Raka.`, `dll. di
toko`, `Aku... tidak`), nor a lone "." after a title abbreviation (Dr., Jl., No.)
or a single capital initial (R. A. Kartini). A period inside a number (3.5,
1.000.000) is never an end.

Words are runs of letters and digits joined by hyphens or apostrophes (anak-anak,
Jum'at, ke-3, Rp1.000.000 are one word each); numbers count as words; punctuation,
dashes and emoji do not.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from pahat.errors import PahatError

FORMULA = "Bobot Akhir_kata = (Bobot Awal × Indeks Kata) + Total Kata Dalam Kalimat"

# Abbreviations written before a name or number; their "." never ends a sentence
# even before a capital (Dr. Sari, Jl. Merdeka, No. 5). List-ending ones (dll.,
# dsb., tsb.) need no entry: the lowercase rule keeps "dll. di toko" together,
# and before a capital their "." really is the full stop (Indonesian writes one).
TITLES = frozenset("yth no jl jln hlm tgl bpk sdr sdri dr drs dra prof ir hj kh kab kec kel".split())

# A word piece: a number with . or , separators (3,5 1.000.000 Rp1.000), else
# letters/digits. Pieces join through hyphens and apostrophes, never dashes (— –).
_PIECE = r"(?:[^\W_]*\d(?:[.,]\d+)+|[^\W_]+)"
_WORD = re.compile(rf"{_PIECE}(?:['’\-‐‑]{_PIECE})*")
_CLOSERS = "\"'”’»)]"
_OPENERS = "\"'“‘«(["
# An end-mark run and its closing quotes, followed by space or the line's end;
# "3.5" has no space after its ".", so numbers never match.
_END = re.compile(rf"[.!?…]+[{re.escape(_CLOSERS)}]*(?=\s|$)")


@dataclass(frozen=True)
class WordWeight:
    word: str  # as written
    index: int  # 1-based position in its sentence
    weight: float  # bobot akhir


@dataclass(frozen=True)
class Sentence:
    text: str  # the sentence as written, trimmed
    words: list[WordWeight]

    @property
    def word_count(self) -> int:
        return len(self.words)


def _decimal(bobot_awal: float) -> Decimal:
    value = float(bobot_awal)
    if not math.isfinite(value):
        raise PahatError(f"bobot awal must be a finite number, not {value!r}; give one such as 0.1")
    # repr is the shortest text that reads back as the same float: 0.1 -> "0.1".
    return Decimal(repr(value))


def bobot_akhir(bobot_awal: float, indeks: int, total_kata: int) -> float:
    """(bobot_awal × indeks) + total_kata, computed exactly and rounded once to a float."""
    return float(_decimal(bobot_awal) * indeks + total_kata)


def _continues(line: str, end: re.Match[str]) -> bool:
    """True when this end mark does not close the sentence (see the module docstring)."""
    following = re.search(r"[^\W_]", line[end.end() :])
    if following and following.group().islower():
        return True
    if end.group() != ".":
        return False
    before = re.search(r"\S+$", line[: end.start()])
    token = before.group().lstrip(_OPENERS) if before else ""
    return token.lower() in TITLES or (len(token) == 1 and token.isupper())


def split_sentences(text: str) -> list[str]:
    """Sentence pieces of a text, in order and trimmed; pieces without words (a lone "...") are kept."""
    pieces: list[str] = []
    for line in unicodedata.normalize("NFC", text).splitlines():
        start = 0
        for end in _END.finditer(line):
            if not _continues(line, end):
                pieces.append(line[start : end.end()].strip())
                start = end.end()
        pieces.append(line[start:].strip())
    return [p for p in pieces if p]


def words_in(sentence: str) -> list[str]:
    """The words of one sentence, as written."""
    return _WORD.findall(unicodedata.normalize("NFC", sentence))


def word_weights(text: str, bobot_awal: float = 0.1) -> list[Sentence]:
    """Every sentence of `text` with the bobot akhir of each of its words."""
    _decimal(bobot_awal)  # refuse NaN/inf before looking at the text
    if not text.strip():
        raise PahatError('the text is empty; give a sentence such as "Aku merasa sangat senang."')
    sentences = []
    for piece in split_sentences(text):
        words = words_in(piece)
        if words:  # a piece of bare punctuation between sentences is not a sentence
            weights = [WordWeight(w, i, bobot_akhir(bobot_awal, i, len(words))) for i, w in enumerate(words, 1)]
            sentences.append(Sentence(piece, weights))
    if not sentences:
        raise PahatError('the text has no words, only punctuation or symbols; give a sentence such as "Aku merasa sangat senang."')
    return sentences


def format_weights(sentences: list[Sentence], bobot_awal: float) -> str:
    """The terminal text: the rumus, then per sentence a header and one aligned line per word."""
    words = [w for s in sentences for w in s.words]
    # One width per column over the whole text, so every sentence lines up.
    iw = max((len(str(w.index)) for w in words), default=1)
    ww = max((len(w.word) for w in words), default=1)
    vw = max((len(repr(w.weight)) for w in words), default=1)
    lines = [f"{FORMULA}, Bobot Awal = {float(bobot_awal)!r}"]
    for n, s in enumerate(sentences, 1):
        lines += ["", f"Kalimat {n} ({s.word_count} kata): {s.text}"]
        lines += [f"  {w.index:>{iw}}  {w.word:<{ww}}  {w.weight!r:>{vw}}" for w in s.words]
    return "\n".join(lines)


def weights_json(sentences: list[Sentence], bobot_awal: float) -> dict:
    """The same figures for --json; weights are the exact floats (4.3, never 4.300000000000001)."""
    return {
        "bobot_awal": float(bobot_awal),
        "formula": FORMULA,
        "sentences": [
            {
                "text": s.text,
                "word_count": s.word_count,
                "words": [{"index": w.index, "word": w.word, "bobot_akhir": w.weight} for w in s.words],
            }
            for s in sentences
        ],
    }
