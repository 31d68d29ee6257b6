"""The decoding engine: KV cache parity, padded batches, the sliding window, beam search, stop strings, chat."""

from __future__ import annotations

import io
import itertools
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pahat.chat import ChatSession, run_chat
from pahat.checkpoint import load_model
from pahat.errors import PahatError
from pahat.generate import Decoder, GenerationConfig, beam_search, generate, generate_ids, keep_tokens, stream
from pahat.model import KVCache, LightweightLanguageModel, ModelConfig

SMALL = ModelConfig(vocab_size=61, embedding_dim=32, max_seq_len=16, num_heads_attention=4, num_layers_compress=2, hidden_dim=48)
GREEDY = GenerationConfig(temperature=0.0)


@pytest.fixture(scope="module")
def model() -> LightweightLanguageModel:
    torch.manual_seed(0)
    m = LightweightLanguageModel(SMALL).eval()
    # Larger weights than the init, so the argmax is decisive and tokens vary.
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3)
    return m


def prompts(seed: int, lengths: list[int]) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 61, (n,), generator=g).tolist() for n in lengths]


# ---------------------------------------------------------------- KV cache


@pytest.mark.parametrize("lengths", [[1], [5], [16], [1, 9, 16], [4, 4, 12]])
def test_cache_and_no_cache_give_the_same_logits_and_tokens(model, lengths: list[int]) -> None:
    # 30 new tokens from up to 16: the window (16) slides on the way, several times;
    # several lengths in one batch means left padding, with and without the cache.
    for seed in range(3):
        ps = prompts(seed * 10 + len(lengths), lengths)
        assert_same_logits(Decoder(model, ps, use_cache=True), Decoder(model, ps, use_cache=False), steps=30)


def assert_same_logits(a: Decoder, b: Decoder, steps: int) -> None:
    """Both decoders see the same tokens (a's argmax) and give logits within 1e-5 at every step."""
    for _ in range(steps):
        la, lb = a.logits(), b.logits()
        torch.testing.assert_close(lb, la, atol=1e-5, rtol=0)
        tokens = la.argmax(dim=-1).tolist()
        a.append(tokens)
        b.append(tokens)


def test_cache_tokens_match_under_greedy_generation(model) -> None:
    ps = prompts(1, [3, 9, 14])
    cached = generate_ids(model, ps, GenerationConfig(temperature=0.0, max_new_tokens=40))
    plain = generate_ids(model, ps, GenerationConfig(temperature=0.0, max_new_tokens=40, use_cache=False))
    assert cached == plain
    assert len(set(map(tuple, (c[0] for c in cached)))) == 3  # three different continuations


def test_kv_cache_reset_and_reorder(model) -> None:
    cache = KVCache.for_model(model, 2)
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    first, _ = model(ids, kv_cache=cache)
    assert cache.pos == 3
    cache.reorder(torch.tensor([1, 1]))
    nxt, _ = model(torch.tensor([[7], [7]]), kv_cache=cache)
    alone, _ = model(torch.tensor([[4, 5, 6, 7]]))
    torch.testing.assert_close(nxt[0, -1], alone[0, -1], atol=1e-5, rtol=0)
    torch.testing.assert_close(nxt[1, -1], alone[0, -1], atol=1e-5, rtol=0)
    cache.reset()
    again, _ = model(ids, kv_cache=cache)
    torch.testing.assert_close(again, first)


def test_cache_refuses_to_overflow(model) -> None:
    cache = KVCache.for_model(model, 1)
    model(torch.zeros(1, 16, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="longer than max_seq_len"):
        model(torch.zeros(1, 1, dtype=torch.long), kv_cache=cache)


# ---------------------------------------------------------------- batches and the window


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_padded_batch_gives_what_each_prompt_gives_alone(model, use_cache: bool) -> None:
    ps = prompts(2, [2, 11, 6, 16])
    cfg = GenerationConfig(temperature=0.0, max_new_tokens=25, use_cache=use_cache)
    batch = generate_ids(model, ps, cfg)
    alone = [generate_ids(model, [p], cfg)[0] for p in ps]
    assert batch == alone


def test_batch_rows_that_stop_early_leave_the_others_alone(model) -> None:
    ps = prompts(3, [4, 7])
    first = generate_ids(model, [ps[0]], GenerationConfig(temperature=0.0, max_new_tokens=10))[0][0]
    stop = frozenset({first[2]})  # row 0 stops at its third token
    batch = generate_ids(model, ps, GenerationConfig(temperature=0.0, max_new_tokens=10), stop_ids=stop)
    alone = [generate_ids(model, [p], GenerationConfig(temperature=0.0, max_new_tokens=10), stop_ids=stop)[0] for p in ps]
    assert batch == alone and batch[0][0] == first[:2]


def test_sliding_window_keeps_the_last_three_quarters(model) -> None:
    assert keep_tokens(16) == 12 and keep_tokens(128) == 96
    decoder = Decoder(model, [list(range(16))])
    decoder.logits()
    decoder.append([5])  # 17 tokens: the window moves to the last 12
    decoder.logits()
    assert decoder.start == [5]
    out = generate_ids(model, [list(range(10))], GenerationConfig(temperature=0.0, max_new_tokens=100))[0][0]
    assert len(out) == 100  # far past the 16 positions


# ---------------------------------------------------------------- sampling end to end


def test_seeded_sampling_is_reproducible_and_seeds_differ(model) -> None:
    p = prompts(4, [5])
    run = lambda seed: generate_ids(model, p, GenerationConfig(temperature=1.0, top_k=0, seed=seed, max_new_tokens=30))  # noqa: E731
    assert run(7) == run(7)
    assert run(7) != run(8)


def test_num_return_sequences_samples_independent_rows(model) -> None:
    out = generate_ids(model, prompts(5, [5]), GenerationConfig(temperature=1.5, top_k=0, seed=1, max_new_tokens=20, num_return_sequences=3))
    assert len(out) == 1 and len(out[0]) == 3 and len({tuple(s) for s in out[0]}) == 3


def test_min_new_tokens_and_stop_tokens(model) -> None:
    p = prompts(6, [5])
    free = generate_ids(model, p, GREEDY)[0][0]
    stop = frozenset({free[0]})
    assert generate_ids(model, p, GREEDY, stop_ids=stop)[0][0] == []
    held = generate_ids(model, p, GenerationConfig(temperature=0.0, min_new_tokens=3, max_new_tokens=20), stop_ids=stop)[0][0]
    assert len(held) >= 3 and free[0] not in held[:3]


# ---------------------------------------------------------------- beam search


def brute_force_best(model, prompt: list[int], steps: int) -> tuple[list[int], float]:
    """The highest-log-probability continuation of exactly `steps` tokens, by trying all of them."""
    best = (None, -math.inf)
    for tail in itertools.product(range(SMALL.vocab_size), repeat=steps):
        ids = torch.tensor([prompt + list(tail)])
        with torch.no_grad():
            logits, _ = model(ids)
        logp = torch.log_softmax(logits[0, len(prompt) - 1 : -1], dim=-1)
        score = float(sum(logp[i, t] for i, t in enumerate(tail)))
        if score > best[1]:
            best = (list(tail), score)
    return best


def test_beam_search_with_enough_beams_finds_the_best_sequence(model) -> None:
    # With num_beams >= vocab, beam search over 2 steps is exhaustive: it must find the argmax sequence.
    prompt = [3, 1, 4]
    want, want_score = brute_force_best(model, prompt, 2)
    cfg = GenerationConfig(num_beams=SMALL.vocab_size, max_new_tokens=2, length_penalty=0.0)
    best = beam_search(model, prompt, cfg)[0]
    assert best.tokens == want and best.score == pytest.approx(want_score, abs=1e-4)


def test_one_beam_is_greedy_and_more_beams_score_at_least_as_well(model) -> None:
    prompt = prompts(7, [6])[0]
    greedy = generate_ids(model, [prompt], GenerationConfig(temperature=0.0, max_new_tokens=8))[0][0]
    (one,) = beam_search(model, prompt, GenerationConfig(num_beams=1, max_new_tokens=8, length_penalty=0.0))
    assert one.tokens == greedy
    (four,) = beam_search(model, prompt, GenerationConfig(num_beams=4, max_new_tokens=8, length_penalty=0.0))
    assert four.score >= one.score - 1e-6


def test_beam_search_returns_sorted_distinct_hypotheses_and_uses_the_cache_correctly(model) -> None:
    prompt = prompts(8, [12])[0]  # 12 + 10 > 16: the window slides inside beam search
    cfg = GenerationConfig(num_beams=3, num_return_sequences=3, max_new_tokens=10)
    with_cache = beam_search(model, prompt, cfg)
    without = beam_search(model, prompt, GenerationConfig(num_beams=3, num_return_sequences=3, max_new_tokens=10, use_cache=False))
    assert [h.tokens for h in with_cache] == [h.tokens for h in without]
    assert [h.score for h in with_cache] == pytest.approx([h.score for h in without], abs=1e-5)
    scores = [h.score for h in with_cache]
    assert scores == sorted(scores, reverse=True) and len({tuple(h.tokens) for h in with_cache}) == 3


def test_beam_search_finished_hypotheses_and_length_penalty(model) -> None:
    prompt = prompts(9, [5])[0]
    with torch.no_grad():
        first = torch.log_softmax(model(torch.tensor([prompt]))[0][0, -1], dim=-1)
    stop = int(first.argmax())  # the likeliest first token ends a hypothesis at once
    # length_penalty 0: raw sums; ending at once costs one log-prob, any longer text more.
    best = beam_search(model, prompt, GenerationConfig(num_beams=4, max_new_tokens=6, length_penalty=0.0), stop_ids=frozenset({stop}))[0]
    assert best.tokens == [] and best.ended and best.score == pytest.approx(float(first[stop]), abs=1e-5)
    # length_penalty 5: sum / length^5 favours the longest texts.
    best = beam_search(model, prompt, GenerationConfig(num_beams=4, max_new_tokens=6, length_penalty=5.0), stop_ids=frozenset({stop}))[0]
    assert len(best.tokens) == 6 and stop not in best.tokens


@pytest.mark.parametrize("early_stopping", [True, False])
def test_beam_search_never_returns_a_text_cut_short(model, early_stopping: bool) -> None:
    # Every hypothesis either picked a stop token or used all max_new_tokens; one
    # stopped by the search rule half-way must not be returned (it was, once).
    for seed in range(6):
        prompt = prompts(20 + seed, [4])[0]
        with torch.no_grad():
            logits = model(torch.tensor([prompt]))[0][0, -1]
        stops = frozenset(torch.topk(logits, 3).indices.tolist()[1:])  # likely tokens end texts early
        cfg = GenerationConfig(num_beams=3, num_return_sequences=3, max_new_tokens=10, early_stopping=early_stopping)
        for h in beam_search(model, prompt, cfg, stop_ids=stops):
            assert h.ended or len(h.tokens) == 10, h
            assert not stops & set(h.tokens)


# ---------------------------------------------------------------- text: stop strings, streaming, chat


def test_a_stop_string_ends_generation_early(tiny_run: Path) -> None:
    model, tok = load_model(tiny_run)
    calls = []
    real_forward = model.forward
    model.forward = lambda *a, **k: (calls.append(1), real_forward(*a, **k))[1]
    (full,), = generate(model, tok, ["Aku"], GenerationConfig(temperature=1.0, seed=4, max_new_tokens=60))
    all_calls, calls[:] = len(calls), []
    stop = full[5:8]
    (cut,), = generate(model, tok, ["Aku"], GenerationConfig(temperature=1.0, seed=4, max_new_tokens=60, stop=(stop,)))
    assert cut == full[: full.index(stop)]
    assert len(calls) < all_calls  # it stopped generating, not only cut the text


def test_stop_strings_cut_and_stream_equals_generate(tiny_run: Path) -> None:
    model, tok = load_model(tiny_run)
    cfg = GenerationConfig(temperature=0.0, max_new_tokens=40)
    (full,), = generate(model, tok, ["Aku"], cfg)
    assert "".join(stream(model, tok, "Aku", cfg)) == full
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    assert stop.strip()
    cut_cfg = GenerationConfig(temperature=0.0, max_new_tokens=40, stop=(stop,))
    (cut,), = generate(model, tok, ["Aku"], cut_cfg)
    assert cut == full[: full.index(stop)] and stop not in cut
    assert "".join(stream(model, tok, "Aku", cut_cfg)) == cut


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -0.5}, "--temperature"),
        ({"top_p": 0.0}, "--top-p"),
        ({"top_p": 1.5}, "--top-p"),
        ({"top_k": -1}, "--top-k"),
        ({"num_beams": 0}, "--num-beams"),
        ({"num_beams": 2, "num_return_sequences": 3}, "cannot exceed"),
        ({"max_new_tokens": 0}, "--max-new-tokens"),
        ({"num_return_sequences": 2, "temperature": 0.0}, "needs sampling"),
        ({"length_penalty": float("nan")}, "--length-penalty"),
        ({"seed": 2**70}, "--seed"),
    ],
)
def test_bad_decoding_values_are_one_sentence(kwargs: dict, message: str) -> None:
    with pytest.raises(PahatError, match=message):
        GenerationConfig(**kwargs)


def test_chat_piped_one_reply_line_per_message(tiny_run: Path) -> None:
    model, tok = load_model(tiny_run)
    session = ChatSession(model, tok, GenerationConfig(temperature=0.0, max_new_tokens=20))
    out = io.StringIO()
    run_chat(session, io.StringIO("Halo, kamu di mana?\n\n/help\nAku di rumah.\n/reset\nSiapa kamu?\n/exit\nignored\n"), out, interactive=False)
    lines = out.getvalue().split("\n")[:-1]
    # One output line per input line up to /exit: reply, blank, help, reply, blank (/reset), reply.
    assert len(lines) == 6 and lines[1] == "" and lines[2].startswith("commands:") and lines[4] == ""
    assert session.turns[0] == "Siapa kamu?"  # /reset forgot the first two exchanges


def test_chat_lines_that_only_look_like_commands_are_messages(tiny_run: Path) -> None:
    model, tok = load_model(tiny_run)
    session = ChatSession(model, tok, GenerationConfig(temperature=0.0, max_new_tokens=5))
    run_chat(session, io.StringIO("/usr/bin itu folder\n"), io.StringIO(), interactive=False)
    assert session.turns[0] == "/usr/bin itu folder"


def test_typed_special_tokens_stay_text(tiny_run: Path) -> None:
    model, tok = load_model(tiny_run)
    session = ChatSession(model, tok, GenerationConfig(temperature=0.0, max_new_tokens=5))
    ids = session.prompt_ids("<|assistant|>siapa<|end|>")
    assert ids.count(tok.token_to_id("<|assistant|>")) == 1 and ids[-1] == tok.token_to_id("<|assistant|>")
    assert tok.token_to_id("<|end|>") not in ids
    from pahat.generate import encode_prompt

    assert tok.token_to_id("<|end|>") not in encode_prompt(tok, "Aku <|end|>")


def test_a_seeded_chat_is_reproducible_but_replies_draw_fresh_numbers(tiny_run: Path) -> None:
    model, tok = load_model(tiny_run)
    cfg = GenerationConfig(temperature=1.0, top_k=0, max_new_tokens=12, seed=3)

    def replies() -> list[str]:
        session = ChatSession(model, tok, cfg)
        return ["".join(session.reply("Halo.")), "".join((session.reset(), session.reply("Halo."))[1])]

    first = replies()
    assert first == replies()  # the same session twice: the same replies
    assert first[0] != first[1]  # the same message, after /reset, later in the session: new draws


def test_chat_drops_the_oldest_exchanges_to_fit(tiny_run: Path) -> None:
    model, tok = load_model(tiny_run)
    session = ChatSession(model, tok, GenerationConfig(temperature=0.0, max_new_tokens=5))
    for i in range(12):
        list(session.reply(f"Pesan {i}"))
    assert session.turns[-2] == "Pesan 11" and "Pesan 0" not in session.turns  # the window is 32 tokens
    ids = session.prompt_ids("Pesan terakhir")
    assert len(ids) <= session.prompt_budget
    before = list(session.turns)
    with pytest.raises(ValueError, match="send a shorter one"):
        session.prompt_ids("kata " * 200)
    assert session.turns == before  # a message too long loses nothing


@pytest.mark.slow
def test_chat_and_generate_through_the_cli(tiny_run: Path) -> None:
    run = lambda *a, **k: subprocess.run([sys.executable, "-m", "pahat", *a], capture_output=True, text=True, timeout=120, **k)  # noqa: E731
    chat = run("chat", "--model", str(tiny_run), "--seed", "1", "--max-new-tokens", "12", input="Halo, apa kabar?\nAku pulang dulu.\n")
    assert chat.returncode == 0, chat.stderr
    assert len(chat.stdout.splitlines()) == 2
    gen = run("generate", "--model", str(tiny_run), "--prompt", "Aku", "--prompt", "Kamu", "--temperature", "0", "--max-new-tokens", "8")
    assert gen.returncode == 0 and gen.stdout.count("--- ") == 2
    streamed = run("generate", "--model", str(tiny_run), "--prompt", "Aku", "--temperature", "0", "--max-new-tokens", "8", "--stream")
    plain = run("generate", "--model", str(tiny_run), "--prompt", "Aku", "--temperature", "0", "--max-new-tokens", "8")
    assert streamed.stdout == plain.stdout
    by_torch = run("generate", "--model", str(tiny_run), "--prompt", "Aku", "--temperature", "0", "--max-new-tokens", "8", "--backend", "torch")
    assert by_torch.stdout == plain.stdout
    beams = run("generate", "--model", str(tiny_run), "--prompt", "Aku", "--num-beams", "3", "--num-return-sequences", "2", "--max-new-tokens", "8")
    assert beams.returncode == 0 and beams.stdout.count("--- ") == 2
    bad = run("generate", "--model", str(tiny_run), "--prompt", "Aku", "--top-p", "1.5")
    assert bad.returncode == 2 and "--top-p" in bad.stderr
    bad = run("generate", "--model", str(tiny_run), "--prompt", "Aku", "--stream", "--num-beams", "2")
    assert bad.returncode == 2 and bad.stdout == "" and "--stream" in bad.stderr


# ---------------------------------------------------------------- the NumPy runtime


@pytest.mark.parametrize("use_cache", [True, False])
def test_numpy_runtime_gives_the_torch_logits(model, use_cache: bool) -> None:
    # A padded batch, 30 steps: the window slides, the cache is rebuilt; every step within 1e-5.
    from pahat.generate import numpy_backend

    fast = numpy_backend(model)
    ps = prompts(30, [3, 16, 9])
    assert_same_logits(Decoder(model, ps, use_cache), Decoder(fast, ps, use_cache), steps=30)


def test_numpy_runtime_same_tokens_greedy_sampled_and_beams(model) -> None:
    from pahat.generate import numpy_backend

    fast = numpy_backend(model)
    ps = prompts(31, [2, 7, 12])
    for cfg in (GenerationConfig(temperature=0.0, max_new_tokens=20), GenerationConfig(temperature=1.0, seed=5, max_new_tokens=20)):
        assert generate_ids(fast, ps, cfg) == generate_ids(model, ps, cfg)
    beams = GenerationConfig(num_beams=3, num_return_sequences=2, max_new_tokens=8)
    assert [h.tokens for h in beam_search(fast, ps[1], beams)] == [h.tokens for h in beam_search(model, ps[1], beams)]


@pytest.mark.parametrize("tie", [False, True])
def test_numpy_runtime_loads_a_model_directory(tiny_run: Path, tmp_path: Path, tie: bool) -> None:
    import shutil

    from pahat.checkpoint import save_weights
    from pahat.files import atomic_write_json
    from pahat.runtime import NumpyModel

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    model, _ = load_model(run)
    if tie:  # rewrite the directory as a tied model: the file has no D matrix then
        cfg = ModelConfig(**{**model.config.to_dict(), "tie_embeddings": True})
        torch.manual_seed(0)
        model = LightweightLanguageModel(cfg).eval()
        save_weights(run, model)
        atomic_write_json(run / "config.json", cfg.to_dict())
    fast = NumpyModel.load(run)
    ids = torch.tensor([[0, 5, 9, 11, 30]])
    with torch.no_grad():
        want, _ = model(ids)
    got = fast.forward(ids.numpy(), None, fast.new_cache(1), last_only=False)
    assert abs(got - want.numpy()).max() < 1e-5


def test_the_runtime_imports_no_torch() -> None:
    code = "import sys, pahat.runtime, pahat.stream; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
