"""The NumPy runtime: a trained model's forward pass for generation, without torch.

    model = NumpyModel.load("runs/demo")
    cache = model.new_cache(batch_size=1)
    logits = model.forward(np.array([[0, 412, 93]]), None, cache)  # (1, vocab), the last position

It computes what pahat.model.LightweightLanguageModel computes in eval mode
(tested to 1e-5, with padding and the cache), from the same model.safetensors.
Why a second forward pass: decoding one token of the seed's model is ~45 tiny
operators, and eager PyTorch spends 10-30 us of overhead on each on a CPU,
NumPy 1-10 us; so this decodes about 1.7x as fast (bench/generate_speed.py).
It imports no torch, so a server that only generates does not need it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

NEG_INF = np.float32(-np.inf)


@dataclass
class NumpyCache:
    """Keys and values per block, (layers, B, heads, max_len, head_dim), and how many positions are filled."""

    k: np.ndarray
    v: np.ndarray
    pos: int = 0

    @property
    def batch_size(self) -> int:
        return self.k.shape[1]

    def reset(self) -> None:
        self.pos = 0

    def reorder(self, rows: np.ndarray) -> None:
        """Row i becomes a copy of row rows[i] (beam search)."""
        self.k = self.k[:, rows]
        self.v = self.v[:, rows]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz & Stegun 7.1.26); NumPy has none and the exact GELU needs it."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return np.sign(x) * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray, tanh: bool) -> np.ndarray:
    if tanh:  # GPT-2's approximation, as torch's approximate="tanh"
        return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + _erf(x * 0.7071067811865476))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    # np.add.reduce rather than .mean(): the same sums without .mean()'s Python-level bookkeeping,
    # which costs more than the arithmetic on a 128-wide row.
    inv = np.float32(1.0 / x.shape[-1])
    d = x - np.add.reduce(x, axis=-1, keepdims=True) * inv
    return d / np.sqrt(np.add.reduce(d * d, axis=-1, keepdims=True) * inv + np.float32(eps)) * w + b


class NumpyModel:
    """LightweightLanguageModel's eval-mode forward in NumPy, float32."""

    def __init__(self, config: dict, weights: dict[str, np.ndarray]) -> None:
        self.config = config
        self.vocab_size = config["vocab_size"]
        self.max_seq_len = config["max_seq_len"]
        self.layers = config["num_layers_compress"]
        self.heads = config["num_heads_attention"]
        self.width = config["embedding_dim"]
        self.head_dim = self.width // self.heads
        self.tanh_gelu = config.get("activation", "gelu") == "gelu_tanh"
        w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        if "generator.decoder_proj.weight" not in w:  # tied: D shares E's matrix
            w["generator.decoder_proj.weight"] = w["token_embedding.weight"]
        # Matrices stored (in, out), so x @ W needs no transpose per call.
        self.w = {k: (np.ascontiguousarray(v.T) if v.ndim == 2 and "embedding" not in k else v) for k, v in w.items()}

    @classmethod
    def load(cls, run_dir: str | Path) -> "NumpyModel":
        run_dir = Path(run_dir)
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        return cls(config, load_file(str(run_dir / "model.safetensors")))

    def new_cache(self, batch_size: int) -> NumpyCache:
        shape = (self.layers, batch_size, self.heads, self.max_seq_len, self.head_dim)
        return NumpyCache(np.zeros(shape, np.float32), np.zeros(shape, np.float32))

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        out = x @ self.w[name + ".weight"]
        bias = self.w.get(name + ".bias")
        if bias is not None:
            out += bias  # in place: one array fewer per call, which shows at one token per call
        return out

    def forward(self, ids: np.ndarray, mask: np.ndarray | None, cache: NumpyCache, last_only: bool = True) -> np.ndarray:
        """ids (B, T) after cache.pos cached positions -> logits (B, vocab) at the last position, or (B, T, vocab).

        mask: None, or (B, cache.pos + T) with 1 for real tokens and 0 for padding,
        the same contract as the torch model's attention_mask with a kv_cache.
        """
        B, T = ids.shape
        past = cache.pos
        if past + T > self.max_seq_len:
            raise ValueError(f"sequence of {past + T} tokens is longer than max_seq_len={self.max_seq_len}; shorten it")
        nh, hs, C = self.heads, self.head_dim, self.width
        if mask is None:
            pos = slice(past, past + T)  # the same positions for every row: (T, C) broadcasts over B
            allowed = None if T == 1 else np.tril(np.ones((T, past + T), bool), k=past)[None, None]
        else:
            real = mask.astype(bool)
            pos = np.maximum(np.cumsum(mask, axis=1) - 1, 0)[:, past:]
            causal = np.tril(np.ones((T, past + T), bool), k=past)  # query i sees keys <= past + i
            allowed = causal[None] & real[:, None, :]  # (B, T, past + T)
            allowed |= np.eye(T, past + T, k=past, dtype=bool)[None]  # a pad query sees itself: no empty softmax
            allowed = allowed[:, None]  # (B, 1, T, past + T)
        x = self.w["token_embedding.weight"][ids] + self.w["position_embedding.weight"][pos]  # (B, T, C)
        scale = np.float32(1.0 / math.sqrt(hs))
        for i in range(self.layers):
            p = f"compression_layers.{i}."
            h = _layer_norm(x, self.w[p + "norm1.weight"], self.w[p + "norm1.bias"])
            qkv = self._linear(h, p + "attn.qkv_proj")  # (B, T, 3C)
            q, k, v = qkv.reshape(B, T, 3, nh, hs).transpose(2, 0, 3, 1, 4)  # each (B, nh, T, hs)
            cache.k[i, :, :, past : past + T] = k
            cache.v[i, :, :, past : past + T] = v
            keys, values = cache.k[i, :, :, : past + T], cache.v[i, :, :, : past + T]  # (B, nh, past + T, hs)
            att = (q @ keys.transpose(0, 1, 3, 2)) * scale  # (B, nh, T, past + T)
            if allowed is not None:
                att = np.where(allowed, att, NEG_INF)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            y = (att @ values).transpose(0, 2, 1, 3).reshape(B, T, C)
            x = x + self._linear(y, p + "attn.output_proj")
            h = _layer_norm(x, self.w[p + "norm2.weight"], self.w[p + "norm2.bias"])
            h = _gelu(self._linear(h, p + "ffn.0"), self.tanh_gelu)
            x = x + self._linear(h, p + "ffn.3")
        cache.pos = past + T
        if last_only:
            x = x[:, -1]
        x = _layer_norm(x, self.w["norm_final.weight"], self.w["norm_final.bias"])
        return self._linear(x, "generator.decoder_proj").astype(np.float32, copy=False)
