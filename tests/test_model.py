"""The seed's model: exact size, causality, padding, no NaN, and the fused loss against PyTorch's."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pahat.model import (
    IGNORE_INDEX,
    Dropout,
    LightweightLanguageModel,
    ModelConfig,
    keep_mask,
    linear_cross_entropy,
)

TINY = ModelConfig(vocab_size=97, embedding_dim=32, max_seq_len=24, num_heads_attention=4, num_layers_compress=2, hidden_dim=48)


def tiny_model(seed: int = 0, **changes) -> LightweightLanguageModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(**{**TINY.to_dict(), **changes})
    return LightweightLanguageModel(cfg).eval()


def test_seed_config_has_the_seeds_parameter_count() -> None:
    # The seed's code prints 2,984,080 for 10000/128/128/4/3/256 with untied D and biases.
    model = LightweightLanguageModel(ModelConfig())
    assert model.num_parameters() == 2_984_080
    # By hand: E = 10000*128 + 128*128; per block: qkv 128*384+384, out 128*128+128,
    # two LayerNorms 2*256, FFN 128*256+256 + 256*128+128; final LN 256; D 128*10000+10000.
    block = (128 * 384 + 384) + (128 * 128 + 128) + 2 * 256 + (128 * 256 + 256) + (256 * 128 + 128)
    assert model.num_parameters() == 10000 * 128 + 128 * 128 + 3 * block + 256 + 128 * 10000 + 10000
    assert model.num_parameters(non_embedding=True) == 2_984_080 - 10000 * 128 - 128 * 128


def test_seed_weight_names_are_kept() -> None:
    names = set(LightweightLanguageModel(TINY).state_dict())
    for name in (
        "token_embedding.weight",
        "position_embedding.weight",
        "compression_layers.0.attn.qkv_proj.weight",
        "compression_layers.0.attn.output_proj.bias",
        "compression_layers.1.norm1.weight",
        "compression_layers.1.ffn.0.weight",
        "compression_layers.1.ffn.3.weight",
        "compression_layers.1.norm2.bias",
        "norm_final.weight",
        "generator.decoder_proj.weight",
    ):
        assert name in names


def test_tied_embeddings_share_one_matrix() -> None:
    model = tiny_model(tie_embeddings=True)
    assert model.generator.decoder_proj.weight is model.token_embedding.weight
    assert model.num_parameters() == tiny_model().num_parameters() - 97 * 32


def test_forward_returns_logits_and_loss() -> None:
    model = tiny_model()
    ids = torch.randint(0, 97, (3, 10))
    logits, loss = model(ids)
    assert logits.shape == (3, 10, 97) and loss is None
    targets = torch.randint(0, 97, (3, 10))
    logits, loss = model(ids, targets=targets)
    expected = F.cross_entropy(logits.reshape(-1, 97), targets.reshape(-1))
    assert torch.allclose(loss, expected)
    none, fused = model(ids, targets=targets, return_logits=False)
    assert none is None and torch.allclose(fused, expected, atol=1e-6)


@pytest.mark.parametrize("t", [0, 5, 22])
def test_causality_changing_the_future_never_changes_the_past(t: int) -> None:
    model = tiny_model()
    ids = torch.randint(0, 97, (2, 24))
    changed = ids.clone()
    changed[:, t + 1 :] = torch.randint(0, 97, (2, 24 - t - 1))
    a, _ = model(ids)
    b, _ = model(changed)
    assert torch.equal(a[:, : t + 1], b[:, : t + 1])
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])  # the change itself is seen from t + 1 on


def test_no_nan_on_a_full_window_and_at_the_last_position() -> None:
    # The seed's mask made the last row all -inf, hence NaN logits there.
    model = tiny_model()
    logits, _ = model(torch.randint(0, 97, (4, 24)))
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("side", ["left", "right"])
def test_padded_batch_matches_each_sequence_alone(side: str) -> None:
    model = tiny_model()
    lengths = [24, 7, 15, 1]
    seqs = [torch.randint(1, 97, (n,)) for n in lengths]
    batch = torch.zeros(len(seqs), 24, dtype=torch.long)
    mask = torch.zeros(len(seqs), 24, dtype=torch.long)
    for i, s in enumerate(seqs):
        where = slice(24 - len(s), 24) if side == "left" else slice(0, len(s))
        batch[i, where] = s
        mask[i, where] = 1
    logits, _ = model(batch, attention_mask=mask)
    assert torch.isfinite(logits).all()  # padded rows too
    for i, s in enumerate(seqs):
        alone, _ = model(s[None])
        where = slice(24 - len(s), 24) if side == "left" else slice(0, len(s))
        torch.testing.assert_close(logits[i, where], alone[0], atol=1e-5, rtol=1e-5)


def test_padding_carries_no_loss() -> None:
    model = tiny_model()
    ids = torch.randint(1, 97, (1, 10))
    targets = torch.randint(1, 97, (1, 10))
    _, alone = model(ids, targets=targets)
    padded = torch.cat([torch.zeros(1, 5, dtype=torch.long), ids], dim=1)
    padded_t = torch.cat([torch.full((1, 5), 3), targets], dim=1)
    mask = torch.cat([torch.zeros(1, 5), torch.ones(1, 10)], dim=1).long()
    _, loss = model(padded, attention_mask=mask, targets=padded_t)
    torch.testing.assert_close(loss, alone, atol=1e-5, rtol=1e-5)


def test_an_all_ones_mask_equals_no_mask() -> None:
    model = tiny_model()
    ids = torch.randint(0, 97, (2, 24))
    a, _ = model(ids)
    b, _ = model(ids, attention_mask=torch.ones(2, 24, dtype=torch.long))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_too_long_input_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="longer than max_seq_len=24"):
        tiny_model()(torch.zeros(1, 25, dtype=torch.long))


def test_bad_config_values_are_named() -> None:
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(embedding_dim=130, num_heads_attention=4)
    with pytest.raises(ValueError, match="dropout_rate"):
        ModelConfig(dropout_rate=1.0)
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "layers": 3})


@pytest.mark.parametrize("with_bias", [True, False])
def test_fused_loss_matches_pytorch_value_and_gradients(with_bias: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    b = torch.randn(50, dtype=torch.float64, requires_grad=True) if with_bias else None
    t = torch.randint(0, 50, (37,))
    t[[3, 10, 36]] = IGNORE_INDEX
    ref = F.cross_entropy(F.linear(x, w, b), t, ignore_index=IGNORE_INDEX)
    ref_grads = torch.autograd.grad(ref * 2.5, [v for v in (x, w, b) if v is not None])
    got = linear_cross_entropy(x, w, b, t, chunk_rows=8)  # 37 rows: four full chunks and a short one
    got_grads = torch.autograd.grad(got * 2.5, [v for v in (x, w, b) if v is not None])
    torch.testing.assert_close(got, ref)
    for g, r in zip(got_grads, ref_grads):
        torch.testing.assert_close(g, r)


def test_fused_loss_under_no_grad_is_the_same_value() -> None:
    torch.manual_seed(1)
    x, w, b = torch.randn(20, 8), torch.randn(30, 8, requires_grad=True), torch.randn(30, requires_grad=True)
    t = torch.randint(0, 30, (20,))
    with torch.no_grad():
        got = linear_cross_entropy(x, w, b, t, chunk_rows=6)
    torch.testing.assert_close(got, F.cross_entropy(F.linear(x, w, b), t).detach())


def test_model_gradients_fused_equal_plain() -> None:
    model = tiny_model()
    ids, targets = torch.randint(0, 97, (3, 24)), torch.randint(0, 97, (3, 24))
    _, plain = model(ids, targets=targets)
    g_plain = torch.autograd.grad(plain, list(model.parameters()))
    _, fused = model(ids, targets=targets, return_logits=False)
    g_fused = torch.autograd.grad(fused, list(model.parameters()))
    for a, b in zip(g_plain, g_fused):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_keep_mask_rate_and_dropout_scale() -> None:
    torch.manual_seed(0)
    mask = keep_mask((400, 500), 0.1, torch.device("cpu"))
    rate = mask.float().mean().item()
    assert abs(rate - 0.9) < 0.003  # 200k draws: standard error 0.0007
    assert keep_mask((7,), 0.0, torch.device("cpu")).all()  # an odd count uses half a 32-bit draw
    drop = Dropout(0.25).train()
    y = drop(torch.ones(1000, 100))
    kept = y[y != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.75))
    assert abs((y != 0).float().mean().item() - 0.75) < 0.01
    assert torch.equal(drop.eval()(torch.ones(5)), torch.ones(5))


def test_training_attention_path_equals_sdpa_when_nothing_is_dropped() -> None:
    # With dropout on a CPU the attention is computed by hand; at p ~ 0 (every
    # element kept, scale 1 + 1e-9) it must agree with SDPA's eval path.
    model = tiny_model(dropout_rate=1e-9)
    ids = torch.randint(0, 97, (2, 24))
    mask = torch.ones(2, 24, dtype=torch.long)
    mask[1, :5] = 0
    for kwargs in ({}, {"attention_mask": mask}):
        model.eval()
        want, _ = model(ids, **kwargs)
        model.train()
        got, _ = model(ids, **kwargs)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_initial_loss_is_near_uniform() -> None:
    # GPT-2-style init: untrained logits are small, so the loss starts near ln(vocab).
    model = tiny_model()
    _, loss = model(torch.randint(0, 97, (4, 24)), targets=torch.randint(0, 97, (4, 24)))
    assert abs(loss.item() - math.log(97)) < 0.1
