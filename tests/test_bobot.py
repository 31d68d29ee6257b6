"""The seed's rumus iseng: hand-computed weights, Indonesian sentence ends, words, and user errors."""

from __future__ import annotations

import json

import pytest

from pahat.bobot import (
    FORMULA,
    Sentence,
    WordWeight,
    bobot_akhir,
    format_weights,
    split_sentences,
    weights_json,
    word_weights,
    words_in,
)
from pahat.errors import PahatError

SEED_EXAMPLE = "Aku merasa sangat senang."


def table(sentences: list[Sentence]) -> list[list[tuple[str, float]]]:
    """(word, weight) per word, per sentence: the shape the hand computations are written in."""
    return [[(w.word, w.weight) for w in s.words] for s in sentences]


# ---------------------------------------------------------------- the rumus


def test_seed_example():
    # Bab 1: 4 words, bobot awal 0.1 -> 0.1·i + 4.
    [s] = word_weights(SEED_EXAMPLE, 0.1)
    assert s.text == SEED_EXAMPLE
    assert s.word_count == 4
    assert s.words == [
        WordWeight("Aku", 1, 4.1),
        WordWeight("merasa", 2, 4.2),
        WordWeight("sangat", 3, 4.3),
        WordWeight("senang", 4, 4.4),
    ]


def test_default_bobot_awal_is_the_seeds_0_1():
    assert [w.weight for w in word_weights(SEED_EXAMPLE)[0].words] == [4.1, 4.2, 4.3, 4.4]


def test_bobot_akhir_is_exact_where_floats_are_not():
    # Plain floats give 1.1·3 + 4 = 7.300000000000001 and 0.7·7 + 7 = 11.899999999999999.
    assert repr(1.1 * 3 + 4) == "7.300000000000001"  # why the module sums in decimal
    assert repr(bobot_akhir(1.1, 3, 4)) == "7.3"
    assert repr(bobot_akhir(0.7, 7, 7)) == "11.9"
    assert bobot_akhir(0.1, 3, 4) == 4.3
    assert repr(bobot_akhir(0.1, 3, 4)) == "4.3"
    assert bobot_akhir(0.25, 1, 12) == 12.25


def test_two_sentences_of_different_length():
    text = "Aku pulang. Kamu tetap di sini bersama anak-anak."
    sentences = word_weights(text, 0.1)
    assert [s.text for s in sentences] == ["Aku pulang.", "Kamu tetap di sini bersama anak-anak."]
    assert [s.word_count for s in sentences] == [2, 6]
    # 2 words: 0.1·i + 2; 6 words: 0.1·i + 6; anak-anak is one word.
    assert table(sentences) == [
        [("Aku", 2.1), ("pulang", 2.2)],
        [("Kamu", 6.1), ("tetap", 6.2), ("di", 6.3), ("sini", 6.4), ("bersama", 6.5), ("anak-anak", 6.6)],
    ]


@pytest.mark.parametrize(
    "bobot_awal, expected",
    [
        (0.5, [4.5, 5.0, 5.5, 6.0]),  # 0.5·i + 4
        (2, [6.0, 8.0, 10.0, 12.0]),  # 2·i + 4
        (0.25, [4.25, 4.5, 4.75, 5.0]),
        (0, [4.0, 4.0, 4.0, 4.0]),  # allowed: only the sentence length is left
        (-1, [3.0, 2.0, 1.0, 0.0]),  # allowed: later words weigh less
        (0.3, [4.3, 4.6, 4.9, 5.2]),
        (1.1, [5.1, 6.2, 7.3, 8.4]),  # 1.1·3 + 4 is 7.300000000000001 in plain floats
    ],
)
def test_other_bobot_awal(bobot_awal, expected):
    weights = [w.weight for w in word_weights(SEED_EXAMPLE, bobot_awal)[0].words]
    assert weights == expected
    assert [repr(w) for w in weights] == [repr(e) for e in expected]


# ---------------------------------------------------------------- sentences


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Kamu di mana? Aku di sini.", ["Kamu di mana?", "Aku di sini."]),
        ("Aku senang sekali! Kamu juga?", ["Aku senang sekali!", "Kamu juga?"]),
        ("Aku menunggu… Kamu tidak datang.", ["Aku menunggu…", "Kamu tidak datang."]),
        ("Aku menunggu... Kamu tidak datang.", ["Aku menunggu...", "Kamu tidak datang."]),
        ("Benarkah?! Aku tidak percaya!!", ["Benarkah?!", "Aku tidak percaya!!"]),
        # closing quotes and brackets stay with the sentence they close
        ('Dia berkata, "Aku senang." Kamu tersenyum.', ['Dia berkata, "Aku senang."', "Kamu tersenyum."]),
        ("“Kamu datang?” Aku mengangguk.", ["“Kamu datang?”", "Aku mengangguk."]),
        ("(Aku diam saja.) Kamu pergi.", ["(Aku diam saja.)", "Kamu pergi."]),
        # a lowercase word after the mark continues the sentence
        ('"Kamu di mana?" tanya Raka.', ['"Kamu di mana?" tanya Raka.']),
        ("Aku... tidak tahu.", ["Aku... tidak tahu."]),
        # abbreviations and initials
        ("Aku membeli buku, pensil, dll. di toko itu.", ["Aku membeli buku, pensil, dll. di toko itu."]),
        ("Aku membeli buku, pensil, dll. Kemudian aku pulang.", ["Aku membeli buku, pensil, dll.", "Kemudian aku pulang."]),
        ("Aku tinggal di Jl. Merdeka No. 5 bersama Dr. Sari.", ["Aku tinggal di Jl. Merdeka No. 5 bersama Dr. Sari."]),
        ("R. A. Kartini lahir di Jepara.", ["R. A. Kartini lahir di Jepara."]),
        # numbers
        ("Harganya naik 3.5 persen. Gajinya Rp1.000.000 sebulan.", ["Harganya naik 3.5 persen.", "Gajinya Rp1.000.000 sebulan."]),
        ("Aku lahir tahun 1990. 5 tahun kemudian aku pindah.", ["Aku lahir tahun 1990.", "5 tahun kemudian aku pindah."]),
        # line breaks: a title line, a paragraph without a final period, CRLF
        ("Bab Satu\nAku pulang.", ["Bab Satu", "Aku pulang."]),
        ("Aku pulang\n\nKamu tetap di sini", ["Aku pulang", "Kamu tetap di sini"]),
        ("Aku pulang.\r\nKamu diam.", ["Aku pulang.", "Kamu diam."]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_sentence_without_words_is_skipped():
    sentences = word_weights("Aku pulang. ... Kamu diam.", 0.1)
    assert split_sentences("Aku pulang. ... Kamu diam.") == ["Aku pulang.", "...", "Kamu diam."]
    assert table(sentences) == [[("Aku", 2.1), ("pulang", 2.2)], [("Kamu", 2.1), ("diam", 2.2)]]


def test_abbreviation_words_count():
    # Aku membeli buku pensil dll di toko itu: 8 words, 0.1·i + 8.
    [s] = word_weights("Aku membeli buku, pensil, dll. di toko itu.", 0.1)
    assert [w.weight for w in s.words] == [8.1, 8.2, 8.3, 8.4, 8.5, 8.6, 8.7, 8.8]


def test_closing_quote_weights():
    sentences = word_weights('Dia berkata, "Aku senang." Kamu tersenyum.', 0.1)
    assert table(sentences) == [
        [("Dia", 4.1), ("berkata", 4.2), ("Aku", 4.3), ("senang", 4.4)],
        [("Kamu", 2.1), ("tersenyum", 2.2)],
    ]


def test_line_break_weights():
    assert table(word_weights("Bab Satu\nAku merasa sangat senang.", 0.5)) == [
        [("Bab", 2.5), ("Satu", 3.0)],  # 0.5·i + 2
        [("Aku", 4.5), ("merasa", 5.0), ("sangat", 5.5), ("senang", 6.0)],  # 0.5·i + 4
    ]


# ---------------------------------------------------------------- words


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("Hari Jum'at aku libur.", ["Hari", "Jum'at", "aku", "libur"]),
        ("Hari Jum’at aku libur.", ["Hari", "Jum’at", "aku", "libur"]),
        ("Anak-anak membeli sayur-mayur.", ["Anak-anak", "membeli", "sayur-mayur"]),
        ("Dia juara ke-3 tahun ini.", ["Dia", "juara", "ke-3", "tahun", "ini"]),
        ("Harganya 3,5 atau 1.000 rupiah.", ["Harganya", "3,5", "atau", "1.000", "rupiah"]),
        ("Aku datang — lalu pergi – dan - kembali.", ["Aku", "datang", "lalu", "pergi", "dan", "kembali"]),
        ('"Halo," katanya, (pelan).', ["Halo", "katanya", "pelan"]),
        ("Aku senang 😊!", ["Aku", "senang"]),
        ("Café itu ramai.", ["Café", "itu", "ramai"]),
        ("Cafe\u0301 itu ramai.", ["Café", "itu", "ramai"]),  # decomposed é is read as one letter
        ("'kan orang'", ["kan", "orang"]),  # an apostrophe joins only between letters
        ("...", []),
    ],
)
def test_words_in(sentence, expected):
    assert words_in(sentence) == expected


def test_jumat_is_one_word_in_the_weights():
    [s] = word_weights("Hari Jum'at aku libur.", 0.1)
    assert s.words[1] == WordWeight("Jum'at", 2, 4.2)


# ---------------------------------------------------------------- user errors


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t "])
def test_empty_text(text):
    with pytest.raises(PahatError, match="the text is empty; give a sentence such as"):
        word_weights(text)


@pytest.mark.parametrize("text", ["...", "?! — … 😊", '"" () -'])
def test_text_without_words(text):
    with pytest.raises(PahatError, match="the text has no words"):
        word_weights(text)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_bobot_awal_must_be_finite(bad):
    with pytest.raises(PahatError, match="bobot awal must be a finite number"):
        word_weights(SEED_EXAMPLE, bad)
    with pytest.raises(PahatError, match="bobot awal must be a finite number"):
        bobot_akhir(bad, 1, 4)


# ---------------------------------------------------------------- output


def test_format_weights_seed_example():
    text = format_weights(word_weights(SEED_EXAMPLE, 0.1), 0.1)
    assert text == "\n".join(
        [
            "Bobot Akhir_kata = (Bobot Awal × Indeks Kata) + Total Kata Dalam Kalimat, Bobot Awal = 0.1",
            "",
            "Kalimat 1 (4 kata): Aku merasa sangat senang.",
            "  1  Aku     4.1",
            "  2  merasa  4.2",
            "  3  sangat  4.3",
            "  4  senang  4.4",
        ]
    )


def test_format_weights_aligns_across_sentences():
    text = format_weights(word_weights("Aku pulang. Kamu tetap di sini bersama anak-anak.", 0.1), 0.1)
    lines = text.splitlines()
    assert lines[2] == "Kalimat 1 (2 kata): Aku pulang."
    assert lines[3] == "  1  Aku        2.1"
    assert lines[6] == "Kalimat 2 (6 kata): Kamu tetap di sini bersama anak-anak."
    assert lines[12] == "  6  anak-anak  6.6"
    assert "0000" not in text


def test_weights_json_seed_example():
    data = weights_json(word_weights(SEED_EXAMPLE, 0.1), 0.1)
    assert data == {
        "bobot_awal": 0.1,
        "formula": FORMULA,
        "sentences": [
            {
                "text": SEED_EXAMPLE,
                "word_count": 4,
                "words": [
                    {"index": 1, "word": "Aku", "bobot_akhir": 4.1},
                    {"index": 2, "word": "merasa", "bobot_akhir": 4.2},
                    {"index": 3, "word": "sangat", "bobot_akhir": 4.3},
                    {"index": 4, "word": "senang", "bobot_akhir": 4.4},
                ],
            }
        ],
    }


@pytest.mark.parametrize("bobot_awal, third", [(0.1, "4.3"), (1.1, "7.3")])  # 0.1·3 + 4, 1.1·3 + 4
def test_weights_json_floats_are_clean(bobot_awal, third):
    data = weights_json(word_weights(SEED_EXAMPLE, bobot_awal), bobot_awal)
    value = data["sentences"][0]["words"][2]["bobot_akhir"]
    assert value == float(third)
    assert repr(value) == third
    dumped = json.dumps(data, ensure_ascii=False)
    assert f'"bobot_akhir": {third}}}' in dumped
    assert "0000" not in dumped and "9999" not in dumped
    assert json.loads(dumped) == data


def test_format_weights_prints_no_float_noise():
    # 1.1·i + 4: plain floats would print 7.300000000000001 for the third word.
    lines = format_weights(word_weights(SEED_EXAMPLE, 1.1), 1.1).splitlines()
    assert lines[0].endswith("Bobot Awal = 1.1")
    assert lines[3:] == ["  1  Aku     5.1", "  2  merasa  6.2", "  3  sangat  7.3", "  4  senang  8.4"]
