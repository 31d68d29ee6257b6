"""The corpus reader and quality gate: hand-computed figures, broken folders, the bundled corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pahat.cli import main
from pahat.corpus import (
    CorpusError,
    Thresholds,
    check_corpus,
    read_corpus,
    words_of,
)

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def chat_line(*turns: str) -> str:
    return json.dumps({"turns": list(turns)}, ensure_ascii=False)


# ---------------------------------------------------------------- reading


def test_prose_title_paragraphs_and_line_endings(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Judul Cerita\r\n\r\nBaris satu\r\nmasih paragraf satu.\r\n\r\n\r\nParagraf  dua.\r\n")
    (doc,) = read_corpus(tmp_path).documents
    assert doc.title == "Judul Cerita"
    assert doc.paragraphs == ["Baris satu masih paragraf satu.", "Paragraf dua."]


def test_readme_and_hidden_files_are_not_corpus(tmp_path: Path) -> None:
    write(tmp_path / "README.md", "Tentang korpus\n\nIni bukan cerita.")
    write(tmp_path / ".draft.txt", "Draf\n\nBelum selesai.")
    write(tmp_path / "cerita" / "a.txt", "Judul\n\nAku pulang.")
    corpus = read_corpus(tmp_path)
    assert [d.path.name for d in corpus.documents] == ["a.txt"]


def test_nfc_normalisation(tmp_path: Path) -> None:
    decomposed = "Cafe\u0301"  # "Café" as e + combining acute
    write(tmp_path / "a.txt", f"Judul\n\nAku ke {decomposed}.")
    (doc,) = read_corpus(tmp_path).documents
    assert "Caf\u00e9" in doc.paragraphs[0]


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "not valid JSON"),
        ('["a", "b"]', 'expected an object with a "turns" list'),
        ('{"text": "a"}', 'expected an object with a "turns" list'),
        ('{"turns": []}', "non-empty list"),
        ('{"turns": "Aku pulang."}', "non-empty list"),
        ('{"turns": ["Aku pulang.", 3]}', "turn 2 is not a string"),
        ('{"turns": ["Aku pulang.", "  "]}', "turn 2 is empty"),
    ],
)
def test_bad_jsonl_line_is_named_and_skipped(tmp_path: Path, line: str, reason: str) -> None:
    good = chat_line("Kamu sudah makan?", "Sudah, aku makan tadi.")
    path = write(tmp_path / "c.jsonl", f"{good}\n\n{line}\n{good.replace('tadi', 'barusan')}\n")
    corpus = read_corpus(tmp_path)
    assert len(corpus.documents) == 2  # the good lines on both sides survive
    (problem,) = corpus.problems
    assert str(problem).startswith(f"{path}:3: ")
    assert reason in problem.reason


def test_non_utf8_and_empty_files_are_named(tmp_path: Path) -> None:
    latin1 = write(tmp_path / "lama.txt", "Judul\n\nAku minum kopi di caf\xe9.".encode("latin-1"))
    empty = write(tmp_path / "kosong.txt", "  \n\n")
    title_only = write(tmp_path / "judul.txt", "Hanya Judul\n")
    bad_chat = write(tmp_path / "c.jsonl", b'{"turns": ["a", "b"]}\n{"turns": ["caf\xe9", "b"]}\n')
    write(tmp_path / "baik.txt", "Judul\n\nAku pulang.")
    corpus = read_corpus(tmp_path)
    problems = {str(p) for p in corpus.problems}
    assert f"{latin1}:3: not UTF-8 (byte 0xe9); re-save the file as UTF-8" in problems
    assert any(p.startswith(f"{empty}: file is empty") for p in problems)
    assert any(p.startswith(f"{title_only}:1: has a title line but no text") for p in problems)
    assert f"{bad_chat}:2: not UTF-8 (byte 0xe9); re-save the file as UTF-8" in problems
    assert [d.path.name for d in corpus.documents] == ["baik.txt"]


def test_missing_or_empty_folder_raises_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus(tmp_path / "tidak-ada")
    write(tmp_path / "catatan.csv", "a,b")
    with pytest.raises(CorpusError, match=r"no \.txt, \.md or \.jsonl files"):
        read_corpus(tmp_path)


def test_one_corpus_file_reads_like_a_folder_holding_it(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Judul\n\nAku pulang.")
    write(tmp_path / "b.jsonl", '{"turns": ["Halo.", "Hai juga."]}\n')
    assert [d.paragraphs for d in read_corpus(tmp_path / "a.txt").documents] == [["Aku pulang."]]
    assert [d.kind for d in read_corpus(tmp_path / "b.jsonl").documents] == ["conversation"]
    csv = write(tmp_path / "catatan.csv", "a,b")
    with pytest.raises(CorpusError, match="not a corpus file"):
        read_corpus(csv)


# ---------------------------------------------------------------- words and figures


def test_sentence_initial_words() -> None:
    words = words_of('"Aku pulang," kata Raka. Ia tersenyum… lalu pergi. Ibu bertanya, "Kapan?"')
    initial = [w.text for w in words if w.initial]
    assert initial == ["Aku", "Ia", "lalu", "Ibu", "Kapan"]
    assert [w.text for w in words_of("Anak-anak bermain di Jum'at pagi.")] == ["Anak-anak", "bermain", "di", "Jum'at", "pagi"]


def test_pronoun_share_slang_and_colloquial(tmp_path: Path) -> None:
    # aku x3, kamu x1, saya x1, kau x1 -> 4/6; "Akulah" and "kaulihat" are not whole words.
    write(
        tmp_path / "a.txt",
        "Judul\n\nAku dan kamu pergi. Saya tidak ikut, kata aku yang lain. Akulah yang kaulihat. "
        "Kau tahu? Aku nggak tahu, wkwkwk, bgt.",
    )
    st = check_corpus(tmp_path).parts["prose"]
    assert st.pronouns["aku"] == 3 and st.pronouns["kamu"] == 1
    assert st.pronouns["saya"] == 1 and st.pronouns["kau"] == 1
    assert st.aku_kamu_share == pytest.approx(4 / 6)
    assert st.slang == {"bgt": 1, "wkwkwk": 1}
    assert st.colloquial == {"nggak": 1}
    assert st.colloquial_share == pytest.approx(1 / st.words)


def test_lexicon_coverage_skips_names_and_splits_hyphens(tmp_path: Path) -> None:
    # Checked tokens: judul | aku bertemu anak anak di pasar bersama | xqzv menunggu
    # ("Raka" inside a sentence is a name; "Raka" opening a sentence is known
    # as a name from that use) -> 10 tokens, unknown: xqzv.
    write(tmp_path / "a.txt", "Judul\n\nAku bertemu anak-anak di pasar bersama Raka. Raka xqzv menunggu.")
    st = check_corpus(tmp_path).parts["prose"]
    assert st.lexicon_tokens == 10
    assert st.lexicon_coverage == pytest.approx(9 / 10)
    assert st.unknown_top[0][:2] == ("xqzv", 1)


def test_given_names_need_person_context(tmp_path: Path) -> None:
    write(
        tmp_path / "a.txt",
        'Judul\n\n"Ayo pulang, Sekar," kata Bima di Tarutung. Aku naik kereta ke Bandung bersama Laras. '
        "Kota Medan ramai. Laras tersenyum.",
    )
    st = check_corpus(tmp_path).parts["prose"]
    assert st.names == ["Bima", "Laras", "Sekar"]


def test_duplicate_paragraphs_shingles_and_openings(tmp_path: Path) -> None:
    shared = "aku menunggu kereta terakhir di peron yang sepi sekali"  # 9 words
    write(tmp_path / "a.txt", f"Satu\n\nHujan turun.\n\n{shared} malam itu.")
    write(tmp_path / "b.txt", f"Dua\n\nHujan turun.\n\nKemarin {shared}.")
    write(tmp_path / "c.jsonl", chat_line("Hujan turun.", "Aku bawa payung.") + "\n")
    rep = check_corpus(tmp_path)
    prose = rep.parts["prose"]
    # "Hujan turun." repeats once in prose, once more in the total (a chat turn).
    assert prose.duplicate_paragraphs == 1
    assert rep.parts["total"].duplicate_paragraphs == 2
    assert prose.duplicate_openings == 1
    # Shingles (title words count): a has 14 words -> 7 shingles, b has 13 -> 6;
    # the 2 eight-word windows inside `shared` are in both: 4 of 13.
    assert prose.shingles == 13 and prose.shared_shingles == 4
    assert prose.shared_shingle_share == pytest.approx(4 / 13)
    assert not rep.ok
    failed = {(c.part, c.name) for c in rep.checks if not c.ok}
    assert ("prose", "duplicate_openings") in failed and ("total", "duplicate_paragraphs") in failed


# ---------------------------------------------------------------- command line


def clean_folder(tmp_path: Path) -> Path:
    write(tmp_path / "cerita" / "a.txt", "Pagi di Kos\n\nAku bangun pagi dan membuka jendela. Udara terasa sejuk.")
    write(tmp_path / "percakapan" / "c.jsonl", chat_line("Kamu sudah bangun?", "Sudah, aku baru saja mandi.") + "\n")
    return tmp_path


def test_cli_ok_folder_exits_zero_and_json_has_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = clean_folder(tmp_path)
    assert main(["corpus", "check", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert set(report["parts"]) == {"prose", "conversation", "total"}
    assert report["parts"]["total"]["documents"] == 2
    assert report["parts"]["conversation"]["turns_per_conversation"] == [2, 2]


def test_cli_threshold_failure_exits_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = clean_folder(tmp_path)
    write(folder / "cerita" / "b.txt", "Gaul\n\nGue mager banget, bro.")
    assert main(["corpus", "check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "FAILED prose slang" in out and "FAILED total aku_kamu_share" in out
    # The same corpus passes when the writer relaxes the gates on purpose.
    relaxed = ["--max-slang", "10", "--min-aku-kamu-share", "0", "--min-lexicon-coverage", "0"]
    assert main(["corpus", "check", str(folder), *relaxed]) == 0


def test_cli_malformed_input_exits_one_without_traceback(tmp_path: Path) -> None:
    folder = clean_folder(tmp_path)
    write(folder / "percakapan" / "rusak.jsonl", '{"turns": ["Halo, apa kabar kamu?"]}\n{"turns": [}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "pahat", "corpus", "check", str(folder)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert f"{folder / 'percakapan' / 'rusak.jsonl'}:2: not valid JSON" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["corpus", "check", "/tidak/ada"], "corpus folder /tidak/ada does not exist"),
        (["corpus", "check", ".", "--min-lexicon-coverage", "1.5"], "outside 0..1"),
        (["corpus", "check", ".", "--max-slang", "-1"], "negative"),
    ],
)
def test_cli_user_mistakes_are_one_sentence(args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pahat", *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- the bundled corpus


@pytest.fixture(scope="module")
def bundled():
    return check_corpus(ROOT / "corpus")


def test_bundled_corpus_passes_every_threshold(bundled) -> None:
    assert bundled.problems == []
    failed = [c for c in bundled.checks if not c.ok]
    assert failed == []
    t = Thresholds()
    for part in ("prose", "conversation", "total"):
        st = bundled.parts[part]
        assert st.aku_kamu_share >= t.min_aku_kamu_share
        assert st.slang_total == 0
        assert st.colloquial_share <= t.max_colloquial_share
        assert st.lexicon_coverage >= t.min_lexicon_coverage
        assert st.shared_shingle_share < t.max_shared_shingle_share
        assert st.duplicate_paragraphs == 0
    assert bundled.parts["total"].duplicate_openings == 0


def test_bundled_corpus_size_and_form(bundled) -> None:
    prose, chat = bundled.parts["prose"], bundled.parts["conversation"]
    assert prose.documents >= 90 and prose.words >= 80_000
    low, high, _ = prose.words_per_document
    assert 600 <= low and high <= 1500
    assert chat.documents >= 500 and chat.words >= 25_000
    assert chat.turns_per_conversation is not None
    assert 4 <= chat.turns_per_conversation[0] and chat.turns_per_conversation[1] <= 10
    assert bundled.parts["total"].given_names >= 100


def test_bundled_corpus_readme_states_the_counts(bundled) -> None:
    readme = (ROOT / "corpus" / "README.md").read_text(encoding="utf-8")
    for part in ("prose", "conversation"):
        st = bundled.parts[part]
        assert f"{st.documents:,}" in readme and f"{st.words:,}" in readme
