"""The seed's model (Bab 4-5), with its names and without its bugs.

    R_dasar = E(X)          token + learned position embedding
    R_fitur = F_lokal(...)  EfficientLocalFeatureExtractor: causal multi-head attention
    R_padat = C(R_fitur)    ContextCompressor: pre-LN block of F_lokal + GELU FFN, repeated
    Y       = D(R_padat)    NaturalLanguageGenerator: projection to the vocabulary

    model = LightweightLanguageModel(ModelConfig())
    logits, loss = model(input_ids, attention_mask=None, targets=None)
    logits, _ = model(next_ids, kv_cache=cache)   # incremental decoding, see KVCache

Attribute names follow the seed's code (token_embedding, compression_layers,
qkv_proj, generator.decoder_proj ...), so its author recognises every weight.
Two of the seed's bugs are fixed here: its causal mask was inverted (it hid the
past and showed the future, and the last row was all -inf, so NaN), and its
padding branch crashed (it read self.num_heads and batch_size, which do not
exist). Padding is supported left and right: positions count real tokens only.
"""

from __future__ import annotations

import math
import torch
import torch.nn as nn
import torch.nn.functional as F

from pahat.config import ModelConfig  # noqa: F401  (the model's config; imported from here too)

IGNORE_INDEX = -100  # targets with this value add nothing to the loss (padding)
# Rows of the vocabulary projection handled at once by the fused loss: 512 x 10000
# fp32 logits (20 MB) was fastest on a 2-core AVX-512 CPU (bench/train_throughput.py).
LOSS_CHUNK_ROWS = 512


def keep_mask(shape: tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """Bool mask, True with probability 1 - p (to 1/65536), for dropout on a CPU.

    torch's CPU dropout draws one 32-bit random number per element; here each
    draw feeds two elements (16 bits each), which makes the seed's dropout,
    a fifth of a CPU training step, about 1.6x cheaper. Seeded by torch's generator.
    """
    n = math.prod(shape)
    bits = torch.randint(-(2**31), 2**31, ((n + 1) // 2,), dtype=torch.int32, device=device)
    bits = bits.view(torch.int16)[:n].view(shape)  # uniform over [-32768, 32767]
    return bits >= -32768 + round(p * 65536)


class Dropout(nn.Dropout):
    """nn.Dropout (same name in the weights: it has none) with the cheaper mask on a CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return super().forward(x)
        return x * (keep_mask(tuple(x.shape), self.p, x.device).to(x.dtype) * (1.0 / (1.0 - self.p)))


class KVCache:
    """Keys and values of every block, so each new token costs one position, not the whole text.

        cache = KVCache.for_model(model, batch_size=1)
        logits, _ = model(prompt_ids, kv_cache=cache)   # prefill: cache.pos = prompt length
        logits, _ = model(next_id[:, None], kv_cache=cache)  # advance by one

    Tensors are preallocated at max_seq_len: (layers, B, heads, max_seq_len, head_dim).
    The model writes each block's k, v at [pos, pos + T) and advances pos once
    all blocks have run (in the spirit of nanochat's KVCache).
    """

    def __init__(self, num_layers: int, batch_size: int, num_heads: int, head_dim: int, max_len: int, device, dtype) -> None:
        shape = (num_layers, batch_size, num_heads, max_len, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0  # positions filled, the same for every row

    @classmethod
    def for_model(cls, model: "LightweightLanguageModel", batch_size: int) -> "KVCache":
        c = model.config
        p = next(model.parameters())
        return cls(c.num_layers_compress, batch_size, c.num_heads_attention, c.embedding_dim // c.num_heads_attention, c.max_seq_len, p.device, p.dtype)

    @property
    def batch_size(self) -> int:
        return self.k.shape[1]

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def reset(self) -> None:
        self.pos = 0

    def insert(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, nh, T, hs) at [pos, pos + T); return all keys and values so far, (B, nh, pos + T, hs)."""
        end = self.pos + k.shape[2]
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, num_tokens: int) -> None:
        self.pos += num_tokens

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep rows in this order (beam search: each surviving beam takes its parent's cache)."""
        self.k = self.k[:, rows]
        self.v = self.v[:, rows]


class EfficientLocalFeatureExtractor(nn.Module):
    """F_lokal: multi-head causal self-attention, one fused QKV projection (as in the seed)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.1, bias: bool = True) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.qkv_proj = nn.Linear(embed_dim, embed_dim * 3, bias=bias)
        self.output_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        # The seed drops attention weights, which SDPA's fused kernels cannot do on a
        # CPU; while training with dropout there, the weights are computed by hand.
        self.attention_dropout = Dropout(dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, kv_cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        # x: (B, T, C). mask: bool (B, 1, T, T_keys), True = may attend; None means plain
        # causal attention over x itself, or, with a cache and T == 1, every key so far.
        B, T, C = x.shape
        q, k, v = self.qkv_proj(x).split(self.embed_dim, dim=-1)
        # (B, T, C) -> (B, nh, T, hs)
        q = q.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        k = k.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        if kv_cache is not None:
            k, v = kv_cache.insert(layer, k, v)  # (B, nh, T_keys, hs), T_keys = cached + T
            if mask is None and k.shape[2] > T:
                # One new token sees every cached key: no mask at all (the model builds
                # an explicit one for several new tokens after a non-empty cache).
                y = F.scaled_dot_product_attention(q, k, v)
                return self.output_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        p = self.attention_dropout.p if self.training else 0.0
        if p > 0.0 and x.device.type == "cpu":
            if mask is None:
                mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # (T, T), True = may attend
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))  # (B, nh, T, T)
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = self.attention_dropout(att) @ v  # (B, nh, T, hs)
        elif mask is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble the heads: (B, T, C)
        return self.output_proj(y)


class ContextCompressor(nn.Module):
    """C: one pre-LN block, x + F_lokal(LN(x)), then x + FFN(LN(x))."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        hidden_dim: int,
        dropout: float = 0.1,
        activation: str = "gelu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.attn = EfficientLocalFeatureExtractor(embed_dim, num_heads, dropout, bias)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.dropout1 = Dropout(dropout)
        # Same layout as the seed's Sequential, so its weight names (ffn.0, ffn.3) carry over.
        self.ffn = nn.Sequential(
            nn.Linear(embed_dim, hidden_dim, bias=bias),
            nn.GELU(approximate="tanh" if activation == "gelu_tanh" else "none"),
            Dropout(dropout),
            nn.Linear(hidden_dim, embed_dim, bias=bias),
            Dropout(dropout),
        )
        self.norm2 = nn.LayerNorm(embed_dim)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, kv_cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        a = self.attn(self.norm1(x), mask=mask, kv_cache=kv_cache, layer=layer)
        if not self.training:
            # Decoding calls this once per token; skipping the no-op dropout modules
            # (ffn[2], ffn[4], dropout1) saves about a tenth of a token's time on a CPU.
            x = x + a
            return x + self.ffn[3](self.ffn[1](self.ffn[0](self.norm2(x))))
        x = x + self.dropout1(a)
        return x + self.ffn(self.norm2(x))


class NaturalLanguageGenerator(nn.Module):
    """D: projects compressed representations (B, T, C) to next-token logits (B, T, vocab)."""

    def __init__(self, embed_dim: int, vocab_size: int, bias: bool = True) -> None:
        super().__init__()
        self.decoder_proj = nn.Linear(embed_dim, vocab_size, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder_proj(x)


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of softmax(x @ W.T + b), chunk by chunk, gradients computed on the way.

    Same value and gradients as F.cross_entropy(F.linear(x, W, b), t) (tested),
    but the (N, vocab) logits never exist whole: each chunk of rows is projected,
    turned into softmax - onehot in place, and folded into the three gradients at
    once. At 4096 x 10000 this is about 2x faster than autograd's log_softmax
    path on a CPU, whose backward kernel is slow, and holds 20 MB instead of 330.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, targets, chunk_rows: int, want_grad: bool):
        # x (N, C), weight (V, C), bias (V,) or None, targets (N,) with IGNORE_INDEX for no loss
        valid = targets != IGNORE_INDEX  # (N,)
        count = valid.sum().clamp(min=1).to(x.dtype)
        safe_t = targets.clamp(min=0)
        need_grad = want_grad and any(ctx.needs_input_grad[:3])
        grad_x = torch.empty_like(x) if need_grad else None
        grad_w = torch.zeros_like(weight) if need_grad else None
        grad_b = torch.zeros_like(bias) if need_grad and bias is not None else None
        total = x.new_zeros(())
        # One logits buffer for every chunk: a fresh 20 MB tensor per chunk costs
        # more in first-touch page faults than the exp over it.
        buffer = x.new_empty(min(chunk_rows, x.shape[0]), weight.shape[0])
        for start in range(0, x.shape[0], chunk_rows):
            rows = slice(start, start + chunk_rows)
            xc, tc, vc = x[rows], safe_t[rows], valid[rows]
            logits = buffer[: xc.shape[0]]  # (n, V)
            if bias is None:
                torch.mm(xc, weight.t(), out=logits)
            else:
                torch.addmm(bias, xc, weight.t(), out=logits)
            # log-sum-exp by hand: max, shift, exp in place, sum (one exp; torch.logsumexp is 2x slower here)
            peak = logits.amax(dim=-1, keepdim=True)  # (n, 1)
            target_logit = logits.gather(1, tc[:, None])  # (n, 1)
            probs = logits.sub_(peak).exp_()
            sums = probs.sum(dim=-1, keepdim=True)
            lse = peak + sums.log()  # (n, 1)
            total = total + ((lse - target_logit).squeeze(1) * vc).sum()
            if need_grad:
                # d(mean loss)/d(logits) = (softmax - onehot) / count, zero for ignored rows
                probs.div_(sums)
                probs[torch.arange(probs.shape[0]), tc] -= 1.0
                probs.mul_((vc.to(x.dtype) / count)[:, None])
                grad_x[rows] = probs @ weight
                grad_w.addmm_(probs.t(), xc)
                if grad_b is not None:
                    grad_b += probs.sum(dim=0)
        ctx.save_for_backward(grad_x, grad_w, grad_b)
        return total / count

    @staticmethod
    def backward(ctx, grad_loss):
        grad_x, grad_w, grad_b = ctx.saved_tensors
        scale = lambda g: None if g is None else g * grad_loss  # noqa: E731
        return scale(grad_x), scale(grad_w), scale(grad_b), None, None, None


def linear_cross_entropy(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor, chunk_rows: int = LOSS_CHUNK_ROWS
) -> torch.Tensor:
    """Mean cross-entropy of the logits x @ weight.T + bias against targets, without materialising them.

    x (N, C), targets (N,), IGNORE_INDEX rows skipped. Falls back to the plain
    path under autocast, where the fused kernel would run in the wrong dtype.
    """
    if torch.is_autocast_enabled(x.device.type):
        return F.cross_entropy(F.linear(x, weight, bias).float(), targets, ignore_index=IGNORE_INDEX)
    # Autograd is always off inside forward(); whether the caller wants gradients
    # (not under torch.no_grad, as in evaluation) must be asked here.
    return _LinearCrossEntropy.apply(x, weight, bias, targets, chunk_rows, torch.is_grad_enabled())


def attention_mask_4d(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) padding mask, 1 = real token, -> (B, 1, T, T) bool, True = query may attend key.

    A query attends the keys at or before it that are real tokens. A padded query
    would then see nothing, and softmax over nothing is NaN; it may see itself, so
    every row has one key. Logits at padded positions mean nothing and carry no loss.
    """
    B, T = attention_mask.shape
    real = attention_mask.bool()
    causal = torch.ones(T, T, dtype=torch.bool, device=attention_mask.device).tril()
    mask = causal[None, :, :] & real[:, None, :]  # (B, T, T)
    mask = mask | torch.eye(T, dtype=torch.bool, device=attention_mask.device)[None]
    return mask[:, None, :, :]


def positions_for(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) padding mask -> (B, T) position ids that count real tokens only.

    With left padding, a sequence's first real token gets position 0, exactly
    as when it runs alone; pad positions get 0 too (their output is ignored).
    """
    return (attention_mask.long().cumsum(dim=-1) - 1).clamp(min=0)


class LightweightLanguageModel(nn.Module):
    """The seed's language model: E -> C (F_lokal + FFN) x num_layers_compress -> LN -> D."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        # E: token embedding + learned position embedding
        self.token_embedding = nn.Embedding(c.vocab_size, c.embedding_dim)
        self.position_embedding = nn.Embedding(c.max_seq_len, c.embedding_dim)
        self.dropout = Dropout(c.dropout_rate)
        # F_lokal and C
        self.compression_layers = nn.ModuleList(
            ContextCompressor(c.embedding_dim, c.num_heads_attention, c.hidden_dim, c.dropout_rate, c.activation, c.bias)
            for _ in range(c.num_layers_compress)
        )
        self.norm_final = nn.LayerNorm(c.embedding_dim)
        # D
        self.generator = NaturalLanguageGenerator(c.embedding_dim, c.vocab_size, c.bias)
        self.apply(self._init_weights)
        # GPT-2's scheme: each residual branch's last projection is scaled down by
        # sqrt(2 * layers) so the residual stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith(("output_proj.weight", "ffn.3.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.num_layers_compress))
        if c.tie_embeddings:
            self.generator.decoder_proj.weight = self.token_embedding.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # std 0.02 as in GPT-2; PyTorch's defaults (the seed's) start with much larger logits.
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Distinct parameters (a tied matrix counts once); non_embedding drops E's tables."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.token_embedding.weight.numel() + self.position_embedding.weight.numel()
        return n

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        return_logits: bool = True,
        kv_cache: KVCache | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """input_ids (B, T) -> (logits (B, T, vocab), mean cross-entropy or None).

        attention_mask: 1 for real tokens, 0 for padding (left or right); (B, T), or
        with a kv_cache (B, cache.pos + T), covering the cached tokens too.
        targets (B, T): the next token at each position; IGNORE_INDEX where no loss is wanted.
        return_logits=False (with targets): skip the logits and compute the loss with
        the fused chunked kernel; training does this, and gets (None, loss).
        kv_cache: continue from the cached positions and append these T to the cache.
        """
        B, T = input_ids.shape
        past = kv_cache.pos if kv_cache is not None else 0
        if past + T > self.config.max_seq_len:
            raise ValueError(
                f"sequence of {past + T} tokens is longer than max_seq_len={self.config.max_seq_len}; shorten it"
            )
        device = input_ids.device
        if attention_mask is None:
            pos = torch.arange(past, past + T, device=device)[None, :]  # (1, T)
            mask = None  # causal over T new tokens (SDPA's is_causal path), or one token after the cache
            if past and T > 1:  # several new tokens after a cache: query i sees keys <= past + i
                mask = torch.ones(T, past + T, dtype=torch.bool, device=device).tril(diagonal=past)[None, None]
        else:
            if attention_mask.shape != (B, past + T):
                raise ValueError(f"attention_mask must be (batch, {past + T}), cached tokens included; got {tuple(attention_mask.shape)}")
            pos = positions_for(attention_mask)[:, past:]  # (B, T)
            mask = attention_mask_4d(attention_mask)[:, :, past:, :]  # (B, 1, T, past + T)
        # R_dasar = E(X): (B, T, C)
        x = self.token_embedding(input_ids) + self.position_embedding(pos)
        if self.training:
            x = self.dropout(x)
        # R_padat = C(F_lokal(R_dasar)), block after block
        for i, layer in enumerate(self.compression_layers):
            x = layer(x, mask=mask, kv_cache=kv_cache, layer=i)
        if kv_cache is not None:
            kv_cache.advance(T)
        x = self.norm_final(x)
        if targets is not None and attention_mask is not None:
            targets = targets.masked_fill(attention_mask == 0, IGNORE_INDEX)
        if targets is not None and not return_logits:
            proj = self.generator.decoder_proj
            loss = linear_cross_entropy(x.reshape(B * T, -1), proj.weight, proj.bias, targets.reshape(-1))
            return None, loss
        logits = self.generator(x)  # Y = D(R_padat): (B, T, vocab)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=IGNORE_INDEX)
        return logits, loss
