"""What a model costs: parameters, bytes on disk, FLOPs of a forward pass, memory to serve it.

    pahat info --model runs/demo [--json]

FLOPs are counted by hand from the shapes, 2 per multiply-add, matrix
products only (LayerNorm, GELU, softmax and adds are a few percent and left
out); attention counts the full T x T score matrix, as SDPA computes it, not
the causal half. The seed's "0.2-0.3 GFLOP" matches the multiply-adds (MACs),
so both are reported. tests/test_generate_info.py checks the count against
torch.utils.flop_counter on the real model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pahat.checkpoint import CONFIG, TOKENIZER, WEIGHTS, check_model_dir, read_model_config
from pahat.model import LightweightLanguageModel, ModelConfig


def forward_flops(cfg: ModelConfig, seq_len: int) -> int:
    """FLOPs (2 per multiply-add) of the matrix products in one forward pass over seq_len tokens, batch 1."""
    T, C, H, V = seq_len, cfg.embedding_dim, cfg.hidden_dim, cfg.vocab_size
    per_layer = (
        2 * T * C * 3 * C  # qkv_proj
        + 2 * T * T * C  # q @ k^T, all heads together
        + 2 * T * T * C  # attention weights @ v
        + 2 * T * C * C  # output_proj
        + 2 * T * C * H * 2  # the FFN's two Linear layers
    )
    return cfg.num_layers_compress * per_layer + 2 * T * C * V  # + D, the vocabulary projection


@dataclass(frozen=True)
class ModelInfo:
    parameters: int
    parameters_non_embedding: int
    file_bytes: int  # model.safetensors
    directory_bytes: int  # everything a server needs: weights, config, tokenizer
    forward_flops_128: int
    forward_macs_128: int
    inference_memory_bytes: int  # estimate: fp32 weights + activations of one 128-token forward
    int8_weight_bytes: int  # what the weights would take at one byte each

    def to_json(self) -> dict:
        return self.__dict__.copy()


def inference_memory(cfg: ModelConfig, parameters: int, seq_len: int = 128) -> int:
    """fp32 weights plus the largest live activations of a batch-1 forward without cache.

    At most three (T, max(C, H)) tensors, one (heads, T, T) score matrix and
    the (T, vocab) logits are alive at once; the Python runtime itself (~300 MB
    for torch) is not counted.
    """
    T = min(seq_len, cfg.max_seq_len)
    activations = 3 * T * max(cfg.embedding_dim, 3 * cfg.embedding_dim, cfg.hidden_dim) + cfg.num_heads_attention * T * T + T * cfg.vocab_size
    return 4 * (parameters + activations)


def model_info(run_dir: str | Path) -> ModelInfo:
    run_dir = check_model_dir(run_dir)
    cfg = read_model_config(run_dir)
    model = LightweightLanguageModel(cfg)
    params = model.num_parameters()
    flops = forward_flops(cfg, 128)
    return ModelInfo(
        parameters=params,
        parameters_non_embedding=model.num_parameters(non_embedding=True),
        file_bytes=(run_dir / WEIGHTS).stat().st_size,
        directory_bytes=sum((run_dir / n).stat().st_size for n in (WEIGHTS, CONFIG, TOKENIZER)),
        forward_flops_128=flops,
        forward_macs_128=flops // 2,
        inference_memory_bytes=inference_memory(cfg, params),
        int8_weight_bytes=params,
    )


def format_info(info: ModelInfo, cfg: ModelConfig) -> str:
    mb = lambda n: f"{n / 1e6:.2f} MB"  # noqa: E731
    note = "" if cfg.max_seq_len >= 128 else f" (the model's context is {cfg.max_seq_len}; counted at 128 for comparison)"
    return "\n".join(
        [
            f"parameters:              {info.parameters:,} ({info.parameters_non_embedding:,} without the embeddings)",
            f"weights on disk:         {mb(info.file_bytes)} (model.safetensors, fp32); {mb(info.directory_bytes)} with config and tokenizer",
            f"int8 weights would take: {mb(info.int8_weight_bytes)}",
            f"forward, 128 tokens:     {info.forward_flops_128 / 1e9:.3f} GFLOP = {info.forward_macs_128 / 1e9:.3f} G multiply-adds{note}",
            "                         (matrix products only, 2 FLOPs per multiply-add, full T x T attention)",
            f"inference memory (est.): {mb(info.inference_memory_bytes)} for weights and activations, batch 1, no cache",
        ]
    )
