"""`pahat eval`: the sliding window, bits per character, the baselines, the command and its errors."""

from __future__ import annotations

import json
import lzma
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import copy_run_without_its_data
from pahat.checkpoint import load_model
from pahat.cli import main
from pahat.corpus import read_corpus
from pahat.prepare import content_characters, document_text
from pahat.score import (
    XZ_PRESET,
    encode_documents,
    evaluate_model,
    evaluate_on,
    format_eval,
    load_training_data,
    model_nll,
    score_windows,
    xz_bits,
    xz_compress,
    xz_bytes,
)


@pytest.mark.parametrize("window", [1, 4, 7, 32])
def test_windows_score_every_target_once_with_enough_context(window: int) -> None:
    for n in [1, 2, 3, window, window + 1, window + 2, 3 * window + 5, 100]:
        for stride in sorted({1, max(1, window // 2), window}):
            plan = score_windows(n, window, stride)
            length = min(window, n - 1)
            scored = [start + 1 + j for start, first in plan for j in range(first, length)]
            assert scored == list(range(1, n)), (n, window, stride)
            for start, first in plan:
                assert 0 <= start and start + length <= n - 1 and 0 <= first < length
            for start, first in plan[1:]:
                assert first + 1 >= window - stride + 1  # context of the first scored target


def test_stride_must_fit_the_window() -> None:
    with pytest.raises(ValueError, match="stride"):
        score_windows(10, 4, 5)


def _naive_nll(model, ids: np.ndarray) -> np.ndarray:
    """Each target from the up-to-W tokens before it, one forward per target: the full-context definition."""
    W = model.config.max_seq_len
    out = []
    with torch.no_grad():
        for t in range(1, len(ids)):
            context = torch.from_numpy(ids[max(0, t - W) : t].astype(np.int64))[None]
            logits, _ = model(context)
            out.append(-F.log_softmax(logits[0, -1].double(), -1)[int(ids[t])].item())
    return np.array(out)


def test_stride_1_equals_scoring_each_token_with_its_full_context(tiny_run: Path) -> None:
    model, _ = load_model(tiny_run)
    ids = np.random.default_rng(0).integers(0, model.config.vocab_size, 3 * model.config.max_seq_len + 7)
    np.testing.assert_allclose(model_nll(model, ids, stride=1, batch_size=5), _naive_nll(model, ids), rtol=1e-5, atol=1e-5)


def test_short_text_is_one_forward_pass(tiny_run: Path) -> None:
    model, _ = load_model(tiny_run)
    ids = np.random.default_rng(1).integers(0, model.config.vocab_size, 20)
    x = torch.from_numpy(ids)[None]
    with torch.no_grad():
        _, loss = model(x[:, :-1], targets=x[:, 1:])
    for stride in (1, 8, 32):
        assert model_nll(model, ids, stride).mean() == pytest.approx(loss.item(), rel=1e-5)


def test_a_one_token_window_scores_each_token_from_the_one_before() -> None:
    from pahat.model import LightweightLanguageModel, ModelConfig

    torch.manual_seed(0)
    model = LightweightLanguageModel(ModelConfig(vocab_size=50, embedding_dim=16, max_seq_len=1, num_heads_attention=2, num_layers_compress=1, hidden_dim=32)).eval()
    ids = np.random.default_rng(2).integers(0, 50, 9)
    np.testing.assert_allclose(model_nll(model, ids, stride=1), _naive_nll(model, ids), rtol=1e-5, atol=1e-5)
    from pahat.score import check_settings

    assert check_settings(1, None, 4) == 1 and check_settings(128, None, 4) == 64


def test_bits_per_char_is_total_bits_over_the_texts_characters(tiny_run: Path, small_corpus: Path) -> None:
    model, tok = load_model(tiny_run)
    docs = read_corpus(small_corpus).documents
    target = encode_documents("x", [docs[0], docs[-1]], tok)  # a story and a conversation
    # Characters by hand: title + blank line + paragraphs joined by blank lines; turns joined by nothing.
    story, chat = docs[0], docs[-1]
    assert target.characters == len(story.title) + 2 + sum(len(p) + 2 for p in story.paragraphs) - 2 + sum(map(len, chat.paragraphs))
    result = evaluate_on(model, tok, target, None, stride=16)
    nll = model_nll(model, target.ids, 16)
    assert result.tokens == len(target.ids) - 1 == len(nll)
    assert result.model.bits_per_char == pytest.approx(nll.sum() / math.log(2) / target.characters)
    assert result.model.perplexity == pytest.approx(math.exp(nll.mean()))
    assert result.baselines == []


def test_xz_baseline_is_conditional_on_the_training_text() -> None:
    train = "Aku pulang ke rumah ketika hujan turun. " * 50
    seen = xz_bits(train, "Aku pulang ke rumah ketika hujan turun. ")
    unseen = xz_bits(train, "Qwerty zxcvb mnbvc poiuy lkjhg asdfg. ")
    assert 0 <= seen < unseen
    assert xz_bytes("<|begin|>a<|end|>") == b"\x02a\x03"


@pytest.mark.skipif(shutil.which("xz") is None, reason="no xz binary")
def test_xz_module_compresses_like_the_xz_binary(tmp_path: Path) -> None:
    data = ("Aku merasa sangat senang. Kamu tetap di sini bersama anak-anak. " * 200).encode()
    (tmp_path / "a").write_bytes(data)
    binary = subprocess.run(["xz", "-9e", "-T1", "-c", str(tmp_path / "a")], capture_output=True, check=True).stdout
    assert len(binary) == len(lzma.compress(data, preset=XZ_PRESET))
    # The baseline counts the LZMA2 stream alone, byte for byte the one inside the .xz file.
    assert xz_compress(data) in binary and len(xz_compress(data)) > 0.9 * len(binary) - 64


def test_eval_command_scores_validation_split_with_baselines(tiny_run: Path, capsys) -> None:
    assert main(["eval", "--model", str(tiny_run), "--split", "val", "--json", "--ngram-order", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("bits_per_char", "perplexity", "tokens", "characters", "loss", "documents"):
        assert out[key] is not None
    assert out["documents_in_training"] == 0
    assert out["stride"] == 16 and out["window"] == 32
    assert out["baselines"]["kneser_ney"]["order"] == 3
    for name in ("kneser_ney", "xz"):
        b = out["baselines"][name]
        assert b["model_saves"] == pytest.approx(1 - out["bits_per_char"] / b["bits_per_char"], abs=1e-4)
    assert main(["eval", "--model", str(tiny_run), "--split", "val"]) == 0
    text = capsys.readouterr().out
    assert "Kneser-Ney 4-gram" in text and "xz -9e" in text and "bits/char" in text


def test_eval_text_counts_documents_seen_in_training(tiny_run: Path, small_corpus: Path, tmp_path: Path) -> None:
    prepared = json.loads((tiny_run / "prepare.json").read_text())
    train_story = next(p for p in prepared["splits"]["train"]["document_ids"] if p.endswith(".txt"))
    val_story = next(p for p in prepared["splits"]["val"]["document_ids"] if p.endswith(".txt"))
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(train_story, folder / "a.txt")
    shutil.copy(val_story, folder / "b.txt")
    result = evaluate_model(tiny_run, text=folder, ngram_order=3)
    assert (result.documents, result.documents_in_training) == (2, 1)
    alone = evaluate_model(tiny_run, text=folder, baselines=False)
    assert (alone.documents_in_training, alone.baselines) == (1, [])
    assert alone.model.bits == pytest.approx(result.model.bits)
    assert "1 of 2 documents are, word for word, in the training split" in format_eval(result)


def test_eval_split_matches_eval_of_the_same_documents_as_text(tiny_run: Path, tmp_path: Path) -> None:
    """--split val decodes val.bin; scoring the val documents from the corpus gives the same figures."""
    prepared = json.loads((tiny_run / "prepare.json").read_text())
    stories = [p for p in prepared["splits"]["val"]["document_ids"] if p.endswith(".txt")]
    model, tok = load_model(tiny_run)
    training = load_training_data(tiny_run, tok)
    from pahat.score import read_split_to_score

    split = read_split_to_score(training.folder, "val", tok)
    docs = [d for p in stories for d in read_corpus(p).documents]
    assert [document_text(d) for d in split.documents if d.kind == "prose"] == [document_text(d) for d in docs]
    assert split.characters == sum(content_characters(document_text(d)) for d in split.documents)


def test_eval_errors_are_one_sentence(tiny_run: Path, tmp_path: Path, capsys) -> None:
    run = copy_run_without_its_data(tiny_run, tmp_path / "moved")
    assert main(["eval", "--model", str(run), "--split", "val"]) == 2
    err = capsys.readouterr().err
    assert "pass --data" in err and "--no-baselines" not in err  # the split needs the data either way
    # The data can be named by hand, or the baselines left out.
    assert main(["eval", "--model", str(run), "--split", "val", "--data", str(Path(json.loads((tiny_run / "train_config.json").read_text())["data"])), "--json"]) == 0
    capsys.readouterr()
    story = tmp_path / "s.txt"
    story.write_text("Judul\n\nAku pulang ketika hujan turun.", encoding="utf-8")
    assert main(["eval", "--model", str(run), "--text", str(story), "--no-baselines", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["baselines"] == {} and out["documents_in_training"] is None  # no data: not checked
    assert main(["eval", "--model", str(run), "--text", str(story)]) == 2
    assert "or --no-baselines to score the model alone" in capsys.readouterr().err
    for argv, message in [
        (["--text", str(tmp_path / "none")], "does not exist"),
        (["--text", str(story), "--stride", "33"], "--stride must be between 1"),
        (["--split", "val", "--model", str(tmp_path / "nope")], "does not exist"),
    ]:
        argv = ["eval", "--model", str(run), *argv] if "--model" not in argv else ["eval", *argv]
        assert main(argv) == 2
        assert message in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Judul\n\n\xff\xfe")
    assert main(["eval", "--model", str(run), "--text", str(bad), "--no-baselines"]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "holds no readable document" in err
    with pytest.raises(SystemExit):
        main(["eval", "--model", str(run), "--text", str(story), "--split", "val"])
