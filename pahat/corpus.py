"""Read a pahat corpus folder and check that it is clean enough to train on.

A corpus folder holds prose (`.txt`/`.md`, one document per file: title on the
first line, paragraphs separated by a blank line) and conversations (`.jsonl`,
one `{"turns": ["...", "...", ...]}` per line). This module reads both, names
malformed input as `path:line: reason`, and measures what the seed (Bab 3)
asks of the data: aku-kamu voice, no slang, real words, no repetition.

    pahat corpus check corpus/ [--json]
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Iterator, Literal

from pahat.config import setting
from pahat.errors import PahatError

PROSE_SUFFIXES = (".txt", ".md")
CHAT_SUFFIXES = (".jsonl",)
# Files that describe a corpus rather than belong to it.
SKIPPED_NAMES = {"readme.md", "readme.txt", "license.txt", "license.md", "licence.md", "licence.txt"}

Kind = Literal["prose", "conversation"]
PARTS: tuple[str, ...] = ("prose", "conversation")

# Personal pronouns of the aku-kamu share, counted as whole words. "gua" is also
# the standard word for "cave"; the definition counts it anyway.
AKU_KAMU = ("aku", "kamu")
OTHER_PRONOUNS = ("saya", "anda", "gue", "gua", "lo", "lu", "elo", "engkau", "kau")

# Slang that must never appear. Whole words, case-insensitive; laughter such as
# "wkwkwk" is matched by SLANG_PATTERN instead.
SLANG_WORDS = frozenset(
    """
    gue gw lo lu elo loe anjir anjay anjrit anjer bgt btw mager gabut baper bucin santuy
    kuy cuy otw gws yg dgn tdk gpp udh blm bkn sy kepo lebay alay woles gaje nyokap bokap
    doi gokil mantul japri cmiiw lol omg wtf bro sis gan sob brb ngab anjg bjir
    """.split()
)
SLANG_PATTERN = re.compile(r"^(?:wk){2,}w?$|^(?:kwk){1,}$")
# Colloquial negation: allowed rarely (dialogue), "tidak" is the house form.
COLLOQUIAL = frozenset({"nggak", "gak", "enggak", "ngga", "engga", "nggk"})

# Capitalised words that are not people's given names: honorifics and kinship
# terms used as titles, calendar words, religious words, and the commonest
# Indonesian places. A heuristic for the name count, never for coverage.
NOT_GIVEN_NAMES = frozenset(
    """
    Abah Bah Yah Dok Kek Nek Nduk Le Neng Ambu Emak Mak Babe Amak Apak Ama Ina Ito Lae Inang
    Ibu Bu Bapak Pak Nenek Kakek Om Tante Mas Mbak Kak Kakak Adik Dik Bli Uda Uni Abang Bang
    Teh Teteh Akang Kang Aa Mang Bibi Paman Ayah Bunda Mama Papa Eyang Mbah Opa Oma Amang
    Ompung Tulang Nak Ning Daeng Mace Pace Cik Koh Ci Ustaz Ustazah Haji Hajjah Dokter Suster
    Bidan Profesor Prof Dr Tuan Nyonya Nona Sang Raja Ratu Putra Pangeran Presiden Gubernur
    Bupati Camat Lurah Kades Kapten Romo Pastor Pendeta Bruder Mister Miss Madam
    Tuhan Allah Yesus Kristus Nabi Alquran Injil Islam Kristen Katolik Hindu Buddha Ramadan
    Lebaran Idulfitri Iduladha Natal Paskah Nyepi Galungan Kuningan Imlek Waisak Tahun Baru
    Senin Selasa Rabu Kamis Jumat Sabtu Minggu Ahad Januari Februari Maret April Mei Juni Juli
    Agustus September Oktober November Desember
    Indonesia Jakarta Bandung Surabaya Yogyakarta Jogja Yogya Semarang Solo Malang Bogor
    Depok Bekasi Tangerang Cirebon Garut Tegal Purwokerto Klaten Magelang Kudus Pati Jepara
    Madiun Kediri Blitar Jember Banyuwangi Bali Denpasar Ubud Kuta Sanur Lombok Mataram
    Medan Toba Samosir Siantar Pematangsiantar Pekanbaru Riau Padang Bukittinggi Palembang
    Aceh Banda Jambi Bengkulu Lampung Sumatra Sumatera Jawa Kalimantan Borneo Sulawesi Papua
    Maluku Ambon Manado Makassar Kupang Flores Ende Labuan Bajo Timor Sumba Nusa Tenggara
    Pontianak Banjarmasin Balikpapan Samarinda Jayapura Sorong Ternate Palu Kendari Gorontalo
    Batam Bangka Belitung Madura Bromo Merapi Merbabu Rinjani Kerinci Semeru Ciliwung Musi
    Kapuas Mahakam Malioboro Monas Senayan Tanah Abang Bundaran Sudirman Thamrin Gambir
    Manggarai Priok Ancol Kemang Cikini Menteng Dago Braga Lembang Puncak Gili Trawangan
    Singapura Malaysia Jepang Korea Belanda Inggris Amerika Eropa Asia Australia Tiongkok Cina
    Arab Mesir India Jerman Prancis Makkah Mekah Madinah Barat Timur Utara Selatan Tengah
    KRL MRT TransJakarta Garuda Pertamina
    """.split()
)
# A person's name shows itself in context: after a speech verb or a title
# ("kata Raka", "Bu Ratih"), before a verb of gesture ("Raka tersenyum"), or
# as a vocative ending a sentence (", Raka?"). Places rarely do.
_NAME = r"([A-ZÀ-Þ][^\W\d_]{2,})"
_CUES_BEFORE = """
    kata tanya jawab ujar sahut seru bisik balas ucap panggil gumam keluh pinta lanjut tambah
    namaku namanya bernama Ibu Bu Bapak Pak Nenek Kakek Mas Mbak Kak Kakak Dik Adik Om Tante
    Bli Uda Uni Abang Bang Teh Kang Mang Bibi Paman Opung Ompung Nek Kek Dokter Suster Bidan
    Mbah Eyang Oma Opa Amang Inang Tulang Daeng Nak Ustaz Romo Pastor Pendeta Koh Cik
    kepada bersama memanggil menelepon mengajak menemui memeluk menunggu mengenalkan
""".split()
_CUES_AFTER = """
    tersenyum tertawa mengangguk menggeleng menatap menatapku berkata bertanya menjawab menghela
    terdiam menoleh berbisik memandang memandangku mengerutkan mengangkat menunduk menyodorkan
    meletakkan mengambil menepuk memelukku memeluk menangis masuk keluar memanggil memegang
    melihat melirik mendengarkan menyahut menghampiri mendekat menulis mengetik membalas
    menyeringai tersipu tertegun mendesah bergumam berseru menelepon mengirim menunjuk
""".split()
PERSON_CONTEXT = (
    re.compile(rf"\b(?:{'|'.join(_CUES_BEFORE)})\s+{_NAME}"),
    re.compile(rf"{_NAME}\s+(?:{'|'.join(_CUES_AFTER)})\b"),
    re.compile(rf",\s+{_NAME}\s*(?:[.?!]|,[\"”])"),
)


@dataclass(frozen=True)
class Thresholds:
    """What a corpus must meet; each field is a flag of `pahat corpus check`."""

    min_aku_kamu_share: float = setting(0.85, "least (aku + kamu) / all personal pronouns counted")
    max_slang: int = setting(0, "most slang words allowed in a part")
    max_colloquial_share: float = setting(0.003, "most nggak/gak/enggak as a share of all words")
    min_lexicon_coverage: float = setting(0.97, "least share of checked words found in wordfreq's Indonesian list")
    max_shared_shingle_share: float = setting(0.01, "share of 8-word shingles in more than one document must stay below this")
    max_duplicate_paragraphs: int = setting(0, "most paragraphs or turns that repeat an earlier one exactly")
    max_duplicate_openings: int = setting(0, "most stories whose first sentence repeats another's")


@dataclass
class Document:
    """One story or one conversation, already NFC-normalised."""

    path: Path
    line: int  # 1 for prose files; the JSONL line of a conversation
    kind: Kind
    title: str  # "" for conversations
    paragraphs: list[str]  # prose paragraphs, or the turns of a conversation

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.kind == "conversation" else str(self.path)

    @cached_property
    def words(self) -> list[Word]:
        """Title and paragraph words; cached, since each part and the total measure them."""
        return [w for p in ([self.title] if self.title else []) + self.paragraphs for w in words_of(p)]


@dataclass(frozen=True)
class Problem:
    """Malformed input: reported, skipped, never a traceback."""

    path: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}" if self.line else f"{self.path}: {self.reason}"


@dataclass
class Corpus:
    documents: list[Document]
    problems: list[Problem]
    files: dict[str, int]  # part -> files read without a fatal problem


class CorpusError(PahatError):
    """A corpus that cannot be read at all (missing, empty); its message says what to do."""


# ---------------------------------------------------------------- reading


def normalize_text(text: str) -> str:
    """NFC, Unix line endings, no tabs/NBSP runs; keeps case and punctuation."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\t", " ")
    return re.sub(r"[ \u200b]{2,}", " ", text)


def clean_paragraph(text: str) -> str:
    """One paragraph: its lines joined by single spaces, trimmed."""
    return " ".join(text.split())


def _read_text(path: Path) -> tuple[str | None, Problem | None]:
    """The file's text, or the Problem that stops it from being read."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, Problem(path, None, f"cannot be read ({err.strerror}); check its permissions")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        bad = data[err.start : err.start + 1].hex()
        return None, Problem(path, line, f"not UTF-8 (byte 0x{bad}); re-save the file as UTF-8")


def read_prose(path: Path) -> tuple[Document | None, list[Problem]]:
    """Read one prose file: the first non-empty line is the title, blank lines split paragraphs."""
    text, problem = _read_text(path)
    if problem:
        return None, [problem]
    text = normalize_text(text).strip()
    if not text:
        return None, [Problem(path, None, "file is empty; add text or remove the file")]
    first, _, rest = text.partition("\n")
    title = clean_paragraph(first).lstrip("#").strip()
    body = [p for p in (clean_paragraph(b) for b in re.split(r"\n[ ]*\n", rest)) if p]
    if not body:
        return None, [Problem(path, 1, "has a title line but no text after it; put the title on line 1 and the text below it")]
    return Document(path, 1, "prose", title, body), []


def parse_chat_line(line: str) -> tuple[list[str] | None, str | None]:
    """Parse one JSONL line into turns, or say why it is not `{"turns": [non-empty strings...]}`."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        return None, f"not valid JSON ({err.msg} at column {err.colno})"
    if not isinstance(obj, dict) or "turns" not in obj:
        return None, 'expected an object with a "turns" list'
    turns = obj["turns"]
    if not isinstance(turns, list) or not turns:
        return None, '"turns" must be a non-empty list of strings'
    for i, turn in enumerate(turns, 1):
        if not isinstance(turn, str):
            return None, f"turn {i} is not a string"
        if not turn.strip():
            return None, f"turn {i} is empty"
    return [clean_paragraph(normalize_text(t)) for t in turns], None


def read_chat(path: Path) -> tuple[list[Document], list[Problem]]:
    """Read a JSONL file of conversations; bad lines are reported and skipped."""
    text, problem = _read_text(path)
    if problem:
        return [], [problem]
    if not text.strip():
        return [], [Problem(path, None, "file is empty; add conversations or remove the file")]
    docs, problems = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        turns, reason = parse_chat_line(line)
        if reason:
            problems.append(Problem(path, lineno, reason))
        else:
            docs.append(Document(path, lineno, "conversation", "", turns))
    return docs, problems


def corpus_files(root: Path) -> Iterator[Path]:
    """Corpus files under root in a stable order; hidden paths and READMEs are skipped."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.name.lower() in SKIPPED_NAMES:
            continue
        if path.suffix.lower() in PROSE_SUFFIXES + CHAT_SUFFIXES:
            yield path


def read_corpus(root: str | Path) -> Corpus:
    """Read every prose and conversation file under root (a folder, or one corpus file).

    Raises CorpusError when root is missing or holds no corpus file at all;
    malformed files and lines become Problems and the rest is still read.
    """
    root = Path(root)
    if not root.exists():
        raise CorpusError(f"corpus folder {root} does not exist; pass the folder that holds your .txt/.md/.jsonl files")
    if root.is_file():
        if root.suffix.lower() not in PROSE_SUFFIXES + CHAT_SUFFIXES:
            raise CorpusError(f"{root} is not a corpus file; give a .txt/.md story, a .jsonl of conversations, or a folder of them")
        paths = [root]
    else:
        paths = list(corpus_files(root))
    if not paths:
        raise CorpusError(f"no .txt, .md or .jsonl files under {root}; add your stories (.txt) or conversations (.jsonl) there")
    docs: list[Document] = []
    problems: list[Problem] = []
    files = Counter()
    for path in paths:
        if path.suffix.lower() in PROSE_SUFFIXES:
            doc, probs = read_prose(path)
            new_docs, part = ([doc] if doc else []), "prose"
        else:
            new_docs, probs = read_chat(path)
            part = "conversation"
        docs += new_docs
        problems += probs
        if new_docs:
            files[part] += 1
    return Corpus(docs, problems, dict(files))


# ---------------------------------------------------------------- words

# A word: letters, optionally joined by hyphens or apostrophes (anak-anak, Jum'at).
# Sentence ends and quotes are matched too, to know which words open a sentence.
_TOKEN = re.compile(r"(?P<word>[^\W\d_]+(?:['’\-][^\W\d_]+)*)|(?P<end>[.!?…])|(?P<quote>[\"“”«»])")


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # as written
    initial: bool  # first word of a sentence (or of a quotation)


def words_of(text: str) -> list[Word]:
    """Words of one paragraph, each marked when it opens a sentence."""
    out: list[Word] = []
    initial = True
    for m in _TOKEN.finditer(text):
        if m.group("word"):
            out.append(Word(m.group("word"), initial))
            initial = False
        elif m.group("end"):
            initial = True
        else:
            q = m.group("quote")
            before = text[m.start() - 1] if m.start() else " "
            # A straight quote opens a quotation when it follows space or start.
            if q in "“«" or (q == '"' and (before.isspace() or before in "([—-")):
                initial = True
    return out


def is_capitalised(word: str) -> bool:
    return word[0].isupper()


def is_acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


@lru_cache(maxsize=1)
def indonesian_lexicon() -> frozenset[str]:
    """wordfreq's Indonesian word list (it ships its data, no network)."""
    from wordfreq import get_frequency_dict

    return frozenset(get_frequency_dict("id"))


# ---------------------------------------------------------------- measuring


def aku_kamu_share(pronouns: dict[str, int]) -> float | None:
    """(aku + kamu) / all counted personal pronouns; None when the text has none."""
    total = sum(pronouns.values())
    return (pronouns.get("aku", 0) + pronouns.get("kamu", 0)) / total if total else None


@dataclass
class PartStats:
    """The figures `pahat corpus check` prints for one part (or the total)."""

    files: int = 0
    documents: int = 0
    words: int = 0
    characters: int = 0
    paragraphs: int = 0
    given_names: int = 0
    names: list[str] = field(default_factory=list)
    pronouns: dict[str, int] = field(default_factory=dict)
    aku_kamu_share: float | None = None
    slang: dict[str, int] = field(default_factory=dict)
    slang_total: int = 0
    colloquial: dict[str, int] = field(default_factory=dict)
    colloquial_share: float = 0.0
    lexicon_tokens: int = 0
    lexicon_known: int = 0
    lexicon_coverage: float | None = None
    unknown_top: list[tuple[str, int, str]] = field(default_factory=list)
    shingles: int = 0
    shared_shingles: int = 0
    shared_shingle_share: float = 0.0
    duplicate_paragraphs: int = 0
    duplicate_examples: list[str] = field(default_factory=list)
    duplicate_openings: int = 0
    words_per_document: tuple[int, int, float] = (0, 0, 0.0)  # min, max, mean
    turns_per_conversation: tuple[int, int] | None = None


SHINGLE = 8


def _shingles(words: list[str]) -> set[int]:
    # hash() of a tuple is stable within one process, which is all counting needs.
    return {hash(tuple(words[i : i + SHINGLE])) for i in range(len(words) - SHINGLE + 1)}


def opening_sentence(doc: Document) -> str:
    first = doc.paragraphs[0]
    m = re.search(r"[.!?…](?=[\"”’]?\s|[\"”’]?$)", first)
    return first[: m.end()] if m else first


def measure(docs: list[Document], files: int, top_unknown: int = 30) -> PartStats:
    """All figures for a list of documents (one part, or the whole corpus)."""
    st = PartStats(files=files, documents=len(docs))
    if not docs:
        return st
    lexicon = indonesian_lexicon()
    doc_words = [d.words for d in docs]
    all_words = [w for ws in doc_words for w in ws]
    st.words = len(all_words)
    st.characters = sum(len(d.title) + sum(len(p) for p in d.paragraphs) for d in docs)
    st.paragraphs = sum(len(d.paragraphs) for d in docs)
    lengths = [len(ws) for ws in doc_words]
    st.words_per_document = (min(lengths), max(lengths), round(sum(lengths) / len(lengths), 1))
    turns = [len(d.paragraphs) for d in docs if d.kind == "conversation"]
    if turns:
        st.turns_per_conversation = (min(turns), max(turns))

    lower = Counter(w.text.lower() for w in all_words)
    lowercase_forms = {w.text for w in all_words if not is_capitalised(w.text)}

    # Pronouns, slang, colloquial negation: whole words, case-insensitive.
    st.pronouns = {p: lower[p] for p in AKU_KAMU + OTHER_PRONOUNS}
    st.aku_kamu_share = aku_kamu_share(st.pronouns)
    st.slang = {w: c for w, c in sorted(lower.items()) if w in SLANG_WORDS or SLANG_PATTERN.match(w)}
    st.slang_total = sum(st.slang.values())
    st.colloquial = {w: c for w, c in sorted(lower.items()) if w in COLLOQUIAL}
    st.colloquial_share = sum(st.colloquial.values()) / st.words

    # Names: capitalised inside a sentence and never written in lowercase
    # (so not an ordinary word), not a title/calendar/place word, and seen
    # at least once where only a person stands (see PERSON_CONTEXT).
    names = {
        w.text
        for ws in doc_words
        for w in ws
        if not w.initial and is_capitalised(w.text) and not is_acronym(w.text) and "-" not in w.text
        and w.text.lower() not in lowercase_forms
    }
    evidence = {m.group(1) for d in docs for p in d.paragraphs for rx in PERSON_CONTEXT for m in rx.finditer(p)}
    given = sorted((names & evidence) - NOT_GIVEN_NAMES)
    st.given_names = len(given)
    st.names = given

    # Lexicon coverage: lowercase tokens, hyphenated words split into parts;
    # capitalised words inside a sentence are skipped as names, and so is a
    # sentence-initial word that the text elsewhere uses only as a name.
    unknown: Counter[str] = Counter()
    unknown_where: dict[str, str] = {}
    for doc, ws in zip(docs, doc_words):
        for w in ws:
            t = w.text
            if is_acronym(t) or (is_capitalised(t) and (not w.initial or t in names)):
                continue
            for part in re.split(r"['’\-]", t.lower()):
                st.lexicon_tokens += 1
                if part in lexicon:
                    st.lexicon_known += 1
                else:
                    unknown[part] += 1
                    unknown_where.setdefault(part, doc.where)
    if st.lexicon_tokens:
        st.lexicon_coverage = st.lexicon_known / st.lexicon_tokens
    st.unknown_top = [(w, c, unknown_where[w]) for w, c in unknown.most_common(top_unknown)]

    # Repetition across documents: 8-word shingles and exact paragraphs.
    per_doc = [_shingles([w.text.lower() for w in ws]) for ws in doc_words]
    doc_freq = Counter(h for s in per_doc for h in s)
    st.shingles = sum(len(s) for s in per_doc)
    st.shared_shingles = sum(1 for s in per_doc for h in s if doc_freq[h] > 1)
    st.shared_shingle_share = st.shared_shingles / st.shingles if st.shingles else 0.0
    seen: dict[str, str] = {}
    for doc in docs:
        for p in doc.paragraphs:
            if p in seen:
                st.duplicate_paragraphs += 1
                if len(st.duplicate_examples) < 10:
                    st.duplicate_examples.append(f"{doc.where} repeats {seen[p]}: {p[:80]!r}")
            else:
                seen[p] = doc.where
    openings = Counter(opening_sentence(d) for d in docs if d.kind == "prose")
    st.duplicate_openings = sum(c - 1 for c in openings.values() if c > 1)
    return st


@dataclass(frozen=True)
class Check:
    part: str
    name: str
    value: float | int | None
    limit: float | int
    ok: bool


def evaluate(stats: dict[str, PartStats], t: Thresholds) -> list[Check]:
    """Apply the thresholds to every non-empty part and to the total."""
    checks: list[Check] = []
    for part, st in stats.items():
        if not st.documents:
            continue
        rows = [
            ("aku_kamu_share", st.aku_kamu_share, t.min_aku_kamu_share, ">="),
            ("slang", st.slang_total, t.max_slang, "<="),
            ("colloquial_share", st.colloquial_share, t.max_colloquial_share, "<="),
            ("lexicon_coverage", st.lexicon_coverage, t.min_lexicon_coverage, ">="),
            ("shared_shingle_share", st.shared_shingle_share, t.max_shared_shingle_share, "<"),
            ("duplicate_paragraphs", st.duplicate_paragraphs, t.max_duplicate_paragraphs, "<="),
            ("duplicate_openings", st.duplicate_openings, t.max_duplicate_openings, "<="),
        ]
        for name, value, limit, op in rows:
            if value is None:  # no pronouns / no words to judge: nothing fails
                continue
            ok = value >= limit if op == ">=" else value <= limit if op == "<=" else value < limit
            checks.append(Check(part, name, value, limit, ok))
    return checks


@dataclass
class CorpusReport:
    root: str
    parts: dict[str, PartStats]  # "prose", "conversation", "total"
    problems: list[Problem]
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.checks)

    def to_json(self) -> dict:
        return {
            "root": self.root,
            "ok": self.ok,
            "parts": {k: asdict(v) for k, v in self.parts.items()},
            "problems": [str(p) for p in self.problems],
            "checks": [asdict(c) for c in self.checks],
        }


def check_corpus(root: str | Path, thresholds: Thresholds = Thresholds()) -> CorpusReport:
    """Read and measure a corpus folder; raises CorpusError if there is nothing to read."""
    corpus = read_corpus(root)
    stats = {
        part: measure([d for d in corpus.documents if d.kind == part], corpus.files.get(part, 0)) for part in PARTS
    }
    stats["total"] = measure(corpus.documents, sum(corpus.files.values()))
    return CorpusReport(str(root), stats, corpus.problems, evaluate(stats, thresholds))


# ---------------------------------------------------------------- printing


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def format_report(report: CorpusReport) -> str:
    """The human-readable report: a table per part, then problems and verdicts."""
    parts = [p for p in (*PARTS, "total") if report.parts[p].documents]
    heads = {"prose": "prose", "conversation": "conversations", "total": "total"}
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn) -> None:
        rows.append((label, [fn(report.parts[p]) for p in parts]))

    row("files", lambda s: f"{s.files:,}")
    row("documents", lambda s: f"{s.documents:,}")
    row("words", lambda s: f"{s.words:,}")
    row("characters", lambda s: f"{s.characters:,}")
    row("words per document (min-max, mean)", lambda s: "%d-%d, %.0f" % s.words_per_document)
    row("turns per conversation (min-max)", lambda s: "%d-%d" % s.turns_per_conversation if s.turns_per_conversation else "-")
    row("distinct given names", lambda s: f"{s.given_names}")
    row("aku-kamu share (>= 85%)", lambda s: _pct(s.aku_kamu_share, 1))
    row("  aku / kamu / other pronouns", lambda s: "%d / %d / %d" % (s.pronouns["aku"], s.pronouns["kamu"], sum(s.pronouns[p] for p in OTHER_PRONOUNS)))
    row("slang words (= 0)", lambda s: f"{s.slang_total}")
    row("nggak/gak/enggak share (<= 0.3%)", lambda s: _pct(s.colloquial_share, 3))
    row("lexicon coverage (>= 97%)", lambda s: _pct(s.lexicon_coverage))
    row("shared 8-word shingles (< 1%)", lambda s: _pct(s.shared_shingle_share, 3))
    row("duplicate paragraphs (= 0)", lambda s: f"{s.duplicate_paragraphs}")
    row("duplicate opening sentences (= 0)", lambda s: f"{s.duplicate_openings}")

    width = max(len(label) for label, _ in rows)
    cols = [max(len(heads[p]), *(len(v[i]) for _, v in rows)) for i, p in enumerate(parts)]
    lines = [f"corpus {report.root}", ""]
    lines.append(" " * width + "  " + "  ".join(heads[p].rjust(w) for p, w in zip(parts, cols)))
    for label, values in rows:
        lines.append(label.ljust(width) + "  " + "  ".join(v.rjust(w) for v, w in zip(values, cols)))

    total = report.parts["total"]
    if total.slang:
        lines += ["", "slang found: " + ", ".join(f"{w} x{c}" for w, c in total.slang.items())]
    if total.colloquial:
        lines += ["", "colloquial negation: " + ", ".join(f"{w} x{c}" for w, c in total.colloquial.items())]
    if total.unknown_top:
        lines += ["", "most frequent words not in the Indonesian word list (check for typos):"]
        lines += [f"  {c:5d}  {w:<20} e.g. {where}" for w, c, where in total.unknown_top]
    for part in parts:
        if report.parts[part].duplicate_examples:
            lines += ["", f"duplicate paragraphs ({heads[part]}):"]
            lines += [f"  {e}" for e in report.parts[part].duplicate_examples]
            break
    if report.problems:
        lines += ["", f"malformed input ({len(report.problems)}, skipped):"]
        lines += [f"  {p}" for p in report.problems]
    failed = [c for c in report.checks if not c.ok]
    lines.append("")
    if failed:
        lines += [f"FAILED {c.part} {c.name}: {c.value:.4g} (limit {c.limit})" for c in failed]
    if report.problems:
        lines.append(f"FAILED {len(report.problems)} malformed file(s) or line(s); fix or remove them")
    if report.ok:
        lines.append("OK: every threshold met")
    return "\n".join(lines)
