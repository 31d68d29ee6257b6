"""Tokenizer round trips, the chat format, and `pahat prepare`: dedupe, split, token files, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pahat.cli import main
from pahat.corpus import CorpusError
from pahat.errors import PahatError
from pahat.prepare import content_characters, prepare
from pahat.tokenizer import ASSISTANT, BEGIN, END, SPECIAL_TOKENS, USER, format_chat, format_prose, load_tokenizer, train_tokenizer

EDGE_STRINGS = [
    "",
    "a",
    "Aku merasa sangat senang.",
    "“Kamu yakin?” tanyanya—pelan… ‘ya’.",
    "Café, naïve, São Paulo, Jürgen",
    "emoji 😀🙏🏽👨‍👩‍👧 dan 🇮🇩",
    "Tab\tdan\nbaris baru\n\n  spasi ganda",
    "中文 العربية देवनागरी",
    "<|beg |> bukan token khusus <|end| <|",
    "kata " * 500,
]


@pytest.fixture(scope="module")
def tok():
    texts = [format_prose("Judul", ["Aku pulang ke rumah.", "Kamu menunggu di teras."])] * 3
    texts += [format_chat(["Halo, kamu di mana?", "Aku di stasiun.", "Aku jemput ya."])] * 3
    return train_tokenizer(texts, vocab_size=300)


@pytest.mark.parametrize("text", EDGE_STRINGS)
def test_byte_level_round_trip(tok, text: str) -> None:
    ids = tok.encode(text).ids
    assert tok.decode(ids, skip_special_tokens=False) == text
    assert all(i >= len(SPECIAL_TOKENS) for i in ids)  # plain text never yields a special token


def test_special_tokens_have_ids_0_to_3_and_stay_whole(tok) -> None:
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    ids = tok.encode(format_chat(["Halo.", "Hai."])).ids
    assert ids[0] == 0 and ids[-1] == 1
    assert ids.count(2) == 1 and ids.count(3) == 1


def test_chat_format_alternates_and_opens_a_reply() -> None:
    assert format_chat(["a", "b", "c"]) == f"{BEGIN}{USER}a{ASSISTANT}b{USER}c{END}"
    assert format_chat(["a"], open_reply=True) == f"{BEGIN}{USER}a{ASSISTANT}"
    assert format_prose("T", ["p1", "p2"]) == f"{BEGIN}T\n\np1\n\np2{END}"


def test_tokenizer_normalises_to_nfc(tok) -> None:
    assert tok.encode("Cafe\u0301").ids == tok.encode("Caf\u00e9").ids


def test_vocab_size_bounds() -> None:
    with pytest.raises(ValueError, match="between"):
        train_tokenizer(["x"], vocab_size=100)


# ---------------------------------------------------------------- prepare


def _corpus(root: Path) -> Path:
    (root / "cerita").mkdir(parents=True)
    shared = "Paragraf ini sama persis di dua cerita yang berbeda sekali."
    (root / "cerita" / "a.txt").write_text(f"Satu\n\nAku pulang pagi.\n\n{shared}\n\nYa.", encoding="utf-8")
    (root / "cerita" / "b.txt").write_text(f"Dua\n\n{shared}\n\nYa.\n\nKamu datang sore.", encoding="utf-8")
    (root / "cerita" / "c.txt").write_text("Tiga\n\nHujan turun di Bandung.", encoding="utf-8")
    (root / "cerita" / "rusak.txt").write_bytes(b"Judul\n\nKata \xff rusak.")
    conv = [json.dumps({"turns": [f"Halo {i}, kamu di mana?", f"Aku di rumah {i}."]}) for i in range(6)]
    conv.insert(3, conv[0])  # an exact duplicate conversation
    conv.insert(2, '{"turns": "bukan daftar"}')
    (root / "chat.jsonl").write_text("\n".join(conv) + "\n", encoding="utf-8")
    return root


def test_prepare_dedupes_splits_and_writes_round_trippable_tokens(tmp_path: Path) -> None:
    warnings: list[str] = []
    report = prepare(_corpus(tmp_path / "c"), tmp_path / "d", vocab_size=300, val_fraction=0.34, seed=3, warn=warnings.append)
    assert report["dropped"] == {"duplicate_paragraphs": 1, "duplicate_conversations": 1, "emptied_documents": 0}
    assert len(warnings) == 2 and any("rusak.txt:3: not UTF-8" in w for w in warnings)
    assert any("chat.jsonl:3:" in w for w in warnings)
    train, val = report["splits"]["train"], report["splits"]["val"]
    assert train["documents"] + val["documents"] == 3 + 6
    assert not set(train["document_ids"]) & set(val["document_ids"])
    assert val["prose_documents"] == 1 and val["conversations"] == 2  # round(0.34 * 3), round(0.34 * 6)
    tok = load_tokenizer(tmp_path / "d" / "tokenizer.json")
    assert report["vocab_size"] == tok.get_vocab_size() <= 300
    for name in ("train", "val"):
        ids = np.fromfile(tmp_path / "d" / f"{name}.bin", dtype=np.uint16)
        assert len(ids) == report["splits"][name]["tokens"]
        text = tok.decode(ids.tolist(), skip_special_tokens=False)
        assert text.count(BEGIN) == text.count(END) == report["splits"][name]["documents"]
        assert content_characters(text) == report["splits"][name]["characters"]
    all_text = "".join(
        tok.decode(np.fromfile(tmp_path / "d" / f"{n}.bin", dtype=np.uint16).tolist(), skip_special_tokens=False) for n in ("train", "val")
    )
    assert all_text.count("Paragraf ini sama persis") == 1  # the repeat was dropped
    assert all_text.count("Ya.") == 2  # short lines may repeat
    assert all_text.count("Halo 0,") == 1
    assert json.loads((tmp_path / "d" / "prepare.json").read_text())["splits"]["val"]["tokens"] == val["tokens"]


def test_dedupe_min_words_0_drops_every_exact_repeat(tmp_path: Path) -> None:
    report = prepare(_corpus(tmp_path / "c"), tmp_path / "d", 300, 0.34, 3, warn=lambda _: None, dedupe_min_words=0)
    assert report["dropped"]["duplicate_paragraphs"] == 2  # the long paragraph and "Ya."
    assert report["dedupe_min_words"] == 0


def test_split_is_reproducible_from_the_seed(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "c")
    ids = lambda seed, out: prepare(corpus, tmp_path / out, 300, 0.34, seed, warn=lambda _: None)["splits"]["val"]["document_ids"]  # noqa: E731
    assert ids(1, "a") == ids(1, "b")
    assert any(ids(1, "a") != ids(s, f"s{s}") for s in range(2, 6))
    assert (tmp_path / "a" / "train.bin").read_bytes() == (tmp_path / "b" / "train.bin").read_bytes()


def test_prepare_on_the_bundled_corpus_sample(small_data: Path) -> None:
    report = json.loads((small_data / "prepare.json").read_text())
    assert report["splits"]["val"]["prose_documents"] >= 1 and report["splits"]["val"]["conversations"] >= 1
    assert 1.5 < report["splits"]["train"]["characters_per_token"] < 8.0  # 400 tokens: about 2


def test_missing_and_empty_corpus_end_in_one_sentence(tmp_path: Path, capsys) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        prepare(tmp_path / "none", tmp_path / "d")
    (tmp_path / "empty").mkdir()
    assert main(["prepare", "--corpus", str(tmp_path / "empty"), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pahat: error: no .txt, .md or .jsonl files") and "\n" not in err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(PahatError, match="no readable document"):
        prepare(tmp_path / "bad", tmp_path / "d", warn=lambda _: None)
    assert not (tmp_path / "d").exists()  # nothing written on failure


def test_bad_flag_values(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["prepare", "--corpus", "x", "--out", "y", "--val-fraction", "2"])
    assert exc.value.code == 2
    assert "outside 0..1" in capsys.readouterr().err
    assert main(["prepare", "--corpus", str(_corpus(tmp_path / "v")), "--out", str(tmp_path / "d"), "--vocab-size", "100"]) == 2
    assert "--vocab-size must be between 260 and 65536" in capsys.readouterr().err
    with pytest.raises(PahatError, match="--val-fraction"):
        prepare(_corpus(tmp_path / "c"), tmp_path / "d", val_fraction=0.0)


def test_decoded_token_files_give_back_the_documents(small_corpus: Path, small_data: Path) -> None:
    """documents_of_stream inverts the format: decoding train.bin + val.bin gives every document prepare kept."""
    from pahat.corpus import read_corpus
    from pahat.prepare import dedupe, document_text, documents_of_stream

    tok = load_tokenizer(small_data / "tokenizer.json")
    decoded = []
    for split in ("train", "val"):
        ids = np.fromfile(small_data / f"{split}.bin", dtype=np.uint16).tolist()
        decoded += documents_of_stream(tok.decode(ids, skip_special_tokens=False))
    kept, _ = dedupe(read_corpus(small_corpus).documents)
    assert sorted(document_text(d) for d in decoded) == sorted(document_text(d) for d in kept)
    assert {d.kind for d in decoded} == {"prose", "conversation"}
