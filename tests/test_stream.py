"""Streamed decoding: whole characters only, parity with tok.decode, and stop strings cut where a full-text search would."""

from __future__ import annotations

import random
import unicodedata
from typing import Iterator

import pytest
from tokenizers import Tokenizer

from pahat.stream import StopStrings, TextStream, decode_stream, token_bytes, truncate_at_stop
from pahat.tokenizer import BEGIN, END, SPECIAL_TOKENS, train_tokenizer

TEXTS = [
    "Pagi itu aku berjalan ke pasar bersama ibu.",
    "Halo, apa kabar? Saya baik-baik saja, terima kasih.",
    "Anak-anak bermain di halaman sekolah sampai sore.",
    "Kopi di kafé itu enak sekali, katanya.",
]

EMOJI = "Terima kasih 😀 🙏🏽 👨‍👩‍👧 🇮🇩"
EDGE = [
    "",
    "plain ASCII text",
    "Café naïve",
    "Cafe\u0301 nai\u0308ve",  # decomposed: the NFC normalizer composes it
    "“kutip” dan ‘kutip’",
    "em dash — dan elipsis …",
    EMOJI,
    "中文字符 日本語",
    "مرحبا بالعالم",
    "Selamat pagi, Indonesia! Apa kabar hari ini?",
]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    # ~300 ids: little more than the 256 bytes, so multi-byte characters span several tokens.
    return train_tokenizer(TEXTS * 3, vocab_size=300)


@pytest.fixture(scope="module")
def table(tok: Tokenizer) -> list[bytes]:
    return token_bytes(tok)


def pushes(table: list[bytes], ids: list[int]) -> tuple[list[str], str]:
    stream = TextStream(table)
    return [stream.push(i) for i in ids], stream.flush()


@pytest.mark.parametrize("text", EDGE)
def test_round_trip_matches_tokenizer(tok: Tokenizer, table: list[bytes], text: str) -> None:
    ids = tok.encode(text).ids
    pieces, tail = pushes(table, ids)
    nfc = unicodedata.normalize("NFC", text)
    assert "".join(pieces) + tail == tok.decode(ids) == nfc


@pytest.mark.parametrize("text", EDGE)
def test_pieces_are_whole_characters(tok: Tokenizer, table: list[bytes], text: str) -> None:
    pieces, tail = pushes(table, tok.encode(text).ids)
    final = "".join(pieces) + tail
    so_far = ""
    for piece in pieces:
        assert "\ufffd" not in piece
        piece.encode("utf-8")  # no lone surrogates
        so_far += piece
        assert final.startswith(so_far)
    assert tail == ""  # valid text leaves nothing unfinished


def test_emoji_tokens_split_characters(tok: Tokenizer, table: list[bytes]) -> None:
    """Without this the tests above would pass with a naive per-token decode."""
    ids = tok.encode(EMOJI).ids
    naive = [table[i].decode("utf-8", errors="replace") for i in ids]
    assert any("\ufffd" in piece for piece in naive)
    assert "".join(naive) != EMOJI


def test_special_tokens_print_nothing(tok: Tokenizer, table: list[bytes]) -> None:
    specials = [tok.token_to_id(t) for t in SPECIAL_TOKENS]
    assert specials == [0, 1, 2, 3]
    assert all(table[i] == b"" for i in specials)
    ids = tok.encode(BEGIN + "Halo 😀" + END).ids
    pieces, tail = pushes(table, ids)
    assert pieces[0] == "" and pieces[-1] == ""
    assert "".join(pieces) + tail == "Halo 😀" == tok.decode(ids)


def test_invalid_bytes_become_replacement_and_stream_goes_on(tok: Tokenizer, table: list[bytes]) -> None:
    bad, lone_lead, half_emoji = len(table), len(table) + 1, len(table) + 2
    fake = table + [b"\xff", b"\xe2", "😀".encode()[:2]]
    a, b = tok.encode("a").ids[0], tok.encode("b").ids[0]
    stream = TextStream(fake)
    assert [stream.push(i) for i in (a, bad, b)] == ["a", "\ufffd", "b"]
    # A lead byte followed by ASCII: the broken character is replaced, the ASCII still comes out.
    assert stream.push(lone_lead) == ""
    assert stream.push(a) == "\ufffda"
    # An unfinished character at the end comes out of flush as U+FFFD.
    assert stream.push(half_emoji) == ""
    assert stream.flush() == "\ufffd"
    assert stream.push(b) == "b"


def test_token_bytes_covers_vocab(tok: Tokenizer) -> None:
    table = token_bytes(tok)
    assert len(table) == tok.get_vocab_size()
    # Every single byte is in the alphabet, so 256 one-byte tokens exist.
    assert {t for t in table if len(t) == 1} == {bytes([b]) for b in range(256)}


def feed_all(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    watch = StopStrings(stops)
    out = []
    for piece in pieces:
        text, stopped = watch.feed(piece)
        out.append(text)
        if stopped:
            return out, True
    out.append(watch.flush())
    return out, False


def test_stop_split_across_pieces() -> None:
    watch = StopStrings(["halo"])
    assert watch.feed("kata ha") == ("kata ", False)
    assert watch.feed("lo dunia") == ("", True)
    assert watch.feed("lagi") == ("", True)
    assert watch.flush() == ""


def test_stop_at_the_very_start() -> None:
    assert feed_all(["halo"], ["halo", " dunia"]) == ([""], True)
    assert feed_all(["halo"], ["h", "a", "l", "o"]) == (["", "", "", ""], True)


def test_shorter_stop_that_prefixes_a_longer_one_wins() -> None:
    out, stopped = feed_all(["ab", "abc"], ["x", "a", "b", "c"])
    assert stopped and "".join(out) == "x"
    # The stop that completes first wins even if another started earlier.
    out, stopped = feed_all(["bc", "abcd"], ["a", "b", "c", "d"])
    assert stopped and "".join(out) == "a"
    assert truncate_at_stop("abcd", ["bc", "abcd"]) == ("a", True)


def test_false_prefix_is_released() -> None:
    watch = StopStrings(["halo"])
    assert watch.feed("ha") == ("", False)
    assert watch.feed("l") == ("", False)
    assert watch.feed("x") == ("halx", False)
    # Only the part that is still a prefix is held: "hal" is not, "ha" is.
    assert watch.feed("hal ha") == ("hal ", False)
    assert watch.flush() == "ha"
    assert watch.flush() == ""


def test_no_stops_passes_everything() -> None:
    watch = StopStrings(["", ""])
    assert watch.feed("apa saja") == ("apa saja", False)
    assert watch.flush() == ""
    assert truncate_at_stop("apa", []) == ("apa", False)


def test_random_splits_match_truncate_at_stop() -> None:
    rng = random.Random(0)
    stops = ["bc", "abcd", "aab", "dd", "😀!"]
    for _ in range(500):
        text = "".join(rng.choice("abcd😀! ") for _ in range(rng.randint(0, 20)))
        cuts = sorted(rng.sample(range(len(text) + 1), rng.randint(0, len(text))))
        pieces = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)])]
        out, stopped = feed_all(stops, pieces)
        joined = "".join(out)
        assert (joined, stopped) == truncate_at_stop(text, stops), (text, pieces)
        assert not any(stop in joined for stop in stops)


def test_decode_stream_stops_pulling_ids(tok: Tokenizer, table: list[bytes]) -> None:
    ids = tok.encode("Halo dunia 😀 TAMAT lalu masih ada teks").ids
    # The first prefix of ids whose text contains the stop string.
    k = next(k for k in range(len(ids) + 1) if "TAMAT" in tok.decode(ids[:k]))
    pulled = []

    def generation() -> Iterator[int]:
        for i, token_id in enumerate(ids):
            if i == k:
                raise AssertionError("pulled an id after the stop string completed")
            pulled.append(token_id)
            yield token_id

    pieces = list(decode_stream(generation(), table, stops=["TAMAT"]))
    assert "".join(pieces) == "Halo dunia 😀 "
    assert all(pieces)
    assert len(pulled) == k


def test_decode_stream_without_stop(tok: Tokenizer, table: list[bytes]) -> None:
    ids = tok.encode(BEGIN + "Sampai jumpa 🙏🏽 ha" + END).ids
    pieces = list(decode_stream(iter(ids), table, stops=["halo"]))
    assert all(pieces)
    assert "".join(pieces) == "Sampai jumpa 🙏🏽 ha"  # the held "ha" comes out at the end
    assert "".join(decode_stream(ids, table)) == tok.decode(ids)
