"""Style figures (hand-computed), the model report, and the `pahat bobot` command."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conftest import copy_run_without_its_data
from pahat.cli import main
from pahat.corpus import Document, measure
from pahat.report import CHAT_PROMPTS, PROSE_PROMPTS, SEEDS
from pahat.style import corpus_figures, distinct_n, draw_excerpts, mean_sentence_length, repeated_ngram_rate, style_figures


def test_distinct_n_by_hand() -> None:
    texts = [["aku", "dan", "kamu", "dan", "aku"], ["aku", "pulang"]]
    # unigrams: 7, distinct {aku, dan, kamu, pulang} = 4
    assert distinct_n(texts, 1) == pytest.approx(4 / 7)
    # bigrams: (aku dan)(dan kamu)(kamu dan)(dan aku) + (aku pulang) = 5, all distinct
    assert distinct_n(texts, 2) == pytest.approx(5 / 5)
    assert distinct_n([["aku"]], 2) is None


def test_repeated_4gram_rate_by_hand() -> None:
    loop = "aku pulang ke rumah aku pulang ke rumah aku".split()
    # 4-grams: 6; the 5th and 6th (aku pulang ke rumah, pulang ke rumah aku) repeat the 1st and 2nd
    assert repeated_ngram_rate([loop], 4) == pytest.approx(2 / 6)
    # A 4-gram repeated in another text is not a loop.
    assert repeated_ngram_rate([loop[:4], loop[:4]], 4) == 0.0
    assert repeated_ngram_rate([["satu", "dua"]], 4) is None


def test_mean_sentence_length_by_hand() -> None:
    # 4 words, 2 words (anak-anak is one), and a second paragraph of 3 words.
    text = "Aku merasa sangat senang. Mereka anak-anak!\nKamu di mana?"
    assert mean_sentence_length([text]) == pytest.approx((4 + 2 + 3) / 3)


def test_voice_and_lexicon_match_corpus_check() -> None:
    texts = ["Aku tahu kamu lelah. Saya juga.", "Kamu pulang, aku menunggu di rumah Raka."]
    fig = style_figures(texts)
    assert fig.aku_kamu_share == pytest.approx(4 / 5)
    docs = [Document(Path("x"), i, "prose", "", [t]) for i, t in enumerate(texts)]
    assert fig.lexicon_coverage == measure(docs, files=0).lexicon_coverage
    assert fig.words == 13 and fig.texts == 2


def test_excerpts_match_lengths_and_kinds() -> None:
    pools = {"prose": [list("abcdefghij"), list("kl")], "chat": [list("xyz")]}
    out = draw_excerpts(pools, [(5, "prose"), (2, "chat"), (9, "chat")], random.Random(0))
    assert len(out[0]) == 5 and "".join(out[0]) in "abcdefghij"
    assert len(out[1]) == 2 and "".join(out[1]) in "xyz"
    assert out[2] == list("xyz")  # longer than all replies together: all of them
    # No document long enough: the excerpt runs on across documents and keeps its length.
    (run_on,) = draw_excerpts({"prose": [list("abc"), list("def")], "chat": []}, [(5, "prose")], random.Random(1))
    assert len(run_on) == 5 and "".join(run_on) in "abcdef"
    # Within one draw, each text gets its own document while there are enough.
    docs = [[f"{i}-{j}" for j in range(10)] for i in range(6)]
    drawn = draw_excerpts({"prose": docs, "chat": []}, [(4, "prose")] * 6, random.Random(2))
    assert len({ws[0].split("-")[0] for ws in drawn}) == 6


def test_corpus_figures_are_reproducible(small_corpus: Path) -> None:
    from pahat.corpus import read_corpus

    docs = read_corpus(small_corpus).documents
    lengths = [(60, "prose"), (20, "chat")] * 3
    a, b = corpus_figures(docs, lengths, seed=3), corpus_figures(docs, lengths, seed=3)
    assert a == b
    assert 0 < a.distinct_1 < 1 and 0 <= a.repeated_4gram_rate < 0.2
    assert a.aku_kamu_share == measure(docs, files=0).aku_kamu_share


def test_report_is_complete_and_reproducible(tiny_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "a" / "laporan.md"
    assert main(["report", "--model", str(tiny_run), "--out", str(out), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    text = out.read_text(encoding="utf-8")
    for heading in ("## Samples", "## Style of the generated text", "## Held-out text", "## Training", "## Cost"):
        assert heading in text
    for prompt in PROSE_PROMPTS + CHAT_PROMPTS:
        assert prompt in text
    assert "![training and validation loss](laporan-loss.png)" in text
    assert (out.parent / "laporan-loss.png").read_bytes().startswith(b"\x89PNG")
    assert len(figures["samples"]) == len(SEEDS) * (len(PROSE_PROMPTS) + len(CHAT_PROMPTS))
    assert figures["training_corpus"]["aku_kamu_share"] is not None
    assert figures["held_out"]["baselines"]["kneser_ney"]["bits_per_char"] > 0
    assert f"{figures['info']['parameters']:,}" in text
    # Fixed prompts and seeds: the same model gives the same report.
    again = tmp_path / "b.md"
    assert main(["report", "--model", str(tiny_run), "--out", str(again)]) == 0
    assert again.read_text(encoding="utf-8").replace("b-loss.png", "laporan-loss.png") == text


def test_report_without_the_training_data_still_writes(tiny_run: Path, tmp_path: Path, capsys) -> None:
    run = copy_run_without_its_data(tiny_run, tmp_path / "run")
    assert main(["report", "--model", str(run)]) == 0
    text = (run / "report.md").read_text(encoding="utf-8")
    assert "Not measured: the prepared data" in text and "## Samples" in text
    assert main(["report", "--model", str(run), "--out", str(tmp_path / "r.txt")]) == 2
    assert "should end in .md" in capsys.readouterr().err
    (tmp_path / "folder.md").mkdir()
    (tmp_path / "file").write_text("x")
    for out, message in [(tmp_path / "folder.md", "is a folder"), (tmp_path / "file" / "r.md", "cannot write")]:
        assert main(["report", "--model", str(run), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err


def test_model_output_is_shown_literally_in_markdown() -> None:
    from pahat.report import escape

    assert escape("# *tebal* <b>") == "\\# \\*tebal\\* \\<b\\>"


def test_bobot_command(capsys) -> None:
    assert main(["bobot", "Aku merasa sangat senang.", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [w["bobot_akhir"] for w in out["sentences"][0]["words"]] == [4.1, 4.2, 4.3, 4.4]
    assert main(["bobot", "Aku pulang.", "--bobot-awal", "2"]) == 0
    assert "4.0" in capsys.readouterr().out  # 2 x 2 + 2
    assert main(["bobot", "  "]) == 2
    assert "the text is empty" in capsys.readouterr().err
    assert main(["bobot", "... !!"]) == 2
    assert "no words" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bobot", "Aku.", "--bobot-awal", "x"])
