"""Generation (greedy, sampling, stop token, sliding window) and `pahat info`'s counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from pahat.checkpoint import load_model
from pahat.errors import PahatError
from pahat.generate import GenerationConfig, generate, generate_ids
from pahat.info import forward_flops, model_info
from pahat.model import LightweightLanguageModel, ModelConfig


class FixedLogits(torch.nn.Module):
    """A mock model whose next-token logits are a fixed row per call, whatever the input."""

    def __init__(self, rows: list[list[float]], max_seq_len: int = 8) -> None:
        super().__init__()
        self.rows = [[float(x) for x in r] for r in rows]
        self.calls = 0
        self.seen_lengths: list[int] = []
        self.config = ModelConfig(vocab_size=len(rows[0]), embedding_dim=4, max_seq_len=max_seq_len, num_heads_attention=1, num_layers_compress=1, hidden_dim=4)
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, ids: torch.Tensor, attention_mask=None, kv_cache=None):
        self.seen_lengths.append(ids.shape[1])
        row = torch.tensor(self.rows[min(self.calls, len(self.rows) - 1)])
        self.calls += 1
        return row.expand(ids.shape[0], ids.shape[1], -1), None


def greedy(n: int, **kwargs) -> GenerationConfig:
    return GenerationConfig(temperature=0.0, max_new_tokens=n, **kwargs)


def test_greedy_takes_the_argmax_and_stops_at_the_stop_token() -> None:
    model = FixedLogits([[0, 5, 1, 0], [0, 1, 0, 7], [9, 0, 0, 0], [0, 0, 9, 0]])
    assert generate_ids(model, [[1, 2]], greedy(10), stop_ids=frozenset({0})) == [[[1, 3]]]
    model.calls = 0
    assert generate_ids(model, [[1, 2]], greedy(1)) == [[[1]]]


def test_min_new_tokens_holds_the_stop_token_back() -> None:
    model = FixedLogits([[9, 5, 1, 0]])  # always wants token 0, the stop token
    assert generate_ids(model, [[1]], greedy(10, min_new_tokens=3), stop_ids=frozenset({0})) == [[[1, 1, 1]]]


def test_sliding_window_keeps_generating_past_max_seq_len() -> None:
    # max_seq_len 8 keeps 6 tokens when a text outgrows it: contexts 6, 7, 8, then 6 again.
    model = FixedLogits([[0, 1, 0]], max_seq_len=8)
    out = generate_ids(model, [[1] * 6], greedy(10, use_cache=False))
    assert out == [[[1] * 10]]
    assert model.seen_lengths == [6, 7, 8] * 3 + [6]
    model.seen_lengths, model.calls = [], 0
    generate_ids(model, [[1] * 6], greedy(10))  # with the cache: a prefill of 6, one token at a time, a new prefill of 6
    assert model.seen_lengths == [6, 1, 1, 6, 1, 1, 6, 1, 1, 6]


def test_generate_from_a_trained_model(tiny_run: Path) -> None:
    model, tok = load_model(tiny_run)
    (text,), = generate(model, tok, ["Aku"], greedy(20))
    assert [[text]] == generate(model, tok, ["Aku"], greedy(20))
    sampled = GenerationConfig(max_new_tokens=20, temperature=1.0, top_k=20, seed=5)
    assert generate(model, tok, ["Aku"], sampled) == generate(model, tok, ["Aku"], sampled)
    long_prompt = "Aku pulang ke rumah dan kamu menunggu di teras. " * 20  # longer than max_seq_len = 32
    (text,), = generate(model, tok, [long_prompt], greedy(5))
    assert isinstance(text, str)
    with pytest.raises(PahatError, match="prompt is empty"):
        generate(model, tok, [" "], greedy(5))


def test_prose_generation_never_emits_chat_markers(tiny_run: Path) -> None:
    # A mock model that most wants <|user|>, then <|assistant|>, then <|begin|>, then a word:
    # generate() must write the word and never a turn marker.
    _, tok = load_model(tiny_run)
    from pahat.tokenizer import ASSISTANT, BEGIN, USER

    word = tok.encode(" rumah").ids[0]
    row = [0.0] * tok.get_vocab_size()
    row[tok.token_to_id(USER)], row[tok.token_to_id(ASSISTANT)], row[tok.token_to_id(BEGIN)], row[word] = 9.0, 8.0, 7.0, 5.0
    (text,), = generate(FixedLogits([row], max_seq_len=32), tok, ["Aku"], greedy(3))
    assert text == tok.decode([word] * 3)


@pytest.mark.parametrize(
    "cfg",
    [ModelConfig(), ModelConfig(vocab_size=300, embedding_dim=48, max_seq_len=128, num_heads_attention=3, num_layers_compress=2, hidden_dim=80)],
)
def test_flop_count_matches_torch_flop_counter(cfg: ModelConfig) -> None:
    # The counter does not see inside CPU SDPA kernels; the training path at dropout ~ 0
    # computes attention with plain matmuls, which it does count.
    model = LightweightLanguageModel(ModelConfig(**{**cfg.to_dict(), "dropout_rate": 1e-9})).train()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 128, dtype=torch.long))
    assert forward_flops(cfg, 128) == counter.get_total_flops()


def test_seed_config_flops_sit_in_the_seeds_range_as_multiply_adds() -> None:
    macs = forward_flops(ModelConfig(), 128) / 2
    assert 0.2e9 <= macs <= 0.3e9


def test_info_of_a_model_directory(tiny_run: Path) -> None:
    info = model_info(tiny_run)
    model, _ = load_model(tiny_run)
    assert info.parameters == sum(t.numel() for t in model.state_dict().values())  # untied: every tensor is a parameter
    assert info.parameters_non_embedding == info.parameters - model.token_embedding.weight.numel() - model.position_embedding.weight.numel()
    assert info.file_bytes == (tiny_run / "model.safetensors").stat().st_size
    assert 4 * info.parameters < info.file_bytes < 4 * info.parameters + 10_000  # fp32 plus a small header


def test_missing_model_file_is_one_sentence(tiny_run: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (broken / name).write_bytes((tiny_run / name).read_bytes())
    with pytest.raises(PahatError, match="model.safetensors missing"):
        load_model(broken)
    with pytest.raises(PahatError, match="does not exist"):
        model_info(tmp_path / "nowhere")


def test_samplers_run_through_the_generation_loop() -> None:
    # Known logits: top-k 2 only ever draws the two best; a strong repetition
    # penalty makes greedy leave a token it has already written.
    model = FixedLogits([[0.0, 3.0, 2.9, 1.0, -1.0]])
    seen = set()
    for seed in range(40):
        (seqs,) = generate_ids(model, [[4]], GenerationConfig(temperature=1.0, top_k=2, max_new_tokens=3, seed=seed))
        seen |= set(seqs[0])
    assert seen == {1, 2}
    (seqs,) = generate_ids(model, [[4]], GenerationConfig(temperature=0.0, repetition_penalty=10.0, max_new_tokens=3))
    assert seqs[0] == [1, 2, 3]  # 3.0 -> 0.3 once written, then 2.9 -> 0.29, then 1.0 is best
    (seqs,) = generate_ids(model, [[1, 2]], GenerationConfig(temperature=0.0, no_repeat_ngram_size=2, max_new_tokens=2))
    assert seqs[0] == [1, 1]  # after ... 2, 1 the bigram (1, 2) would repeat: 2 is banned, 1 again is fine
