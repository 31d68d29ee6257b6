"""The settings dataclasses (ModelConfig, TrainConfig), whose fields carry their flag's help text.

    batch_size: int = setting(32, "windows per optimizer step")

pahat.cli turns every such field into a `--kebab-case` flag with that help.
They live here, apart from the model and the training loop, so that the
`pahat` command can build its flags without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal


def setting(default: Any, help: str) -> Any:
    """A dataclass field with a default and the help string of its command-line flag."""
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    """Hyperparameters under the seed's names; saved as config.json beside every checkpoint."""

    vocab_size: int = setting(10000, "tokens in the tokenizer; taken from the prepared data")
    embedding_dim: int = setting(128, "width of every token vector")
    max_seq_len: int = setting(128, "longest context in tokens; also the number of learned positions")
    num_heads_attention: int = setting(4, "attention heads in F_lokal; must divide embedding_dim")
    num_layers_compress: int = setting(3, "ContextCompressor blocks (C)")
    hidden_dim: int = setting(256, "inner width of each block's feed-forward network")
    dropout_rate: float = setting(0.1, "dropout on embeddings, attention weights and residual branches")
    activation: Literal["gelu", "gelu_tanh"] = setting("gelu", "FFN activation: gelu (the seed's) or gelu_tanh (GPT-2's)")
    tie_embeddings: bool = setting(False, "share the token embedding with D's projection (the seed does not)")
    bias: bool = setting(True, "biases in the Linear layers, as in the seed")

    def __post_init__(self) -> None:
        problems = []
        for name in ("vocab_size", "embedding_dim", "max_seq_len", "num_heads_attention", "num_layers_compress", "hidden_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a whole number >= 1 (got {value!r})")
        if not problems and self.embedding_dim % self.num_heads_attention:
            problems.append(
                f"embedding_dim ({self.embedding_dim}) must be divisible by num_heads_attention ({self.num_heads_attention})"
            )
        if not 0.0 <= float(self.dropout_rate) < 1.0:
            problems.append(f"dropout_rate must be in [0, 1) (got {self.dropout_rate!r})")
        if self.activation not in ("gelu", "gelu_tanh"):
            problems.append(f"activation must be 'gelu' or 'gelu_tanh' (got {self.activation!r})")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Build from config.json; unknown keys are an error, so a typo never passes silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known keys are {sorted(known)}")
        return cls(**data)


@dataclass
class TrainConfig:
    """How to train; every field is a `pahat train` flag and is saved in train_config.json."""

    batch_size: int = setting(32, "windows of max_seq_len tokens per optimizer step")
    learning_rate: float = setting(2e-3, "peak learning rate, reached after warmup")
    min_lr_ratio: float = setting(0.1, "the cosine decays to learning_rate times this at max_steps")
    warmup_steps: int = setting(100, "steps of linear warmup from 0")
    max_steps: int = setting(2000, "optimizer steps; the learning-rate schedule ends here")
    weight_decay: float = setting(0.1, "AdamW weight decay, on matrices and embeddings only")
    beta1: float = setting(0.9, "AdamW beta1")
    beta2: float = setting(0.95, "AdamW beta2 (GPT-3's value; steadier than 0.999 with small batches)")
    grad_clip: float = setting(1.0, "largest global gradient norm; 0 turns clipping off")
    eval_interval: int = setting(100, "steps between validation passes, checkpoints and plot updates")
    eval_max_windows: int = setting(256, "validation windows scored per pass, spread evenly over val.bin")
    log_interval: int = setting(10, "steps between lines in log.jsonl")
    patience: int = setting(5, "stop after this many validation passes without a new best; 0 never stops early")
    time_limit: float = setting(0.0, "minutes of training for this invocation; 0 means no limit")
    seed: int = setting(0, "seed for initialisation, dropout and batch order")
    device: str = setting("auto", "auto (CUDA if present), cpu, or cuda")

    def __post_init__(self) -> None:
        positive = ("batch_size", "max_steps", "eval_interval", "eval_max_windows", "log_interval")
        problems = [f"{n} must be >= 1 (got {getattr(self, n)})" for n in positive if getattr(self, n) < 1]
        problems += [f"{n} must be >= 0 (got {getattr(self, n)})" for n in ("warmup_steps", "patience", "time_limit", "grad_clip", "weight_decay") if getattr(self, n) < 0]
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be > 0 (got {self.learning_rate})")
        if not 0 <= self.min_lr_ratio <= 1:
            problems.append(f"min_lr_ratio must be in [0, 1] (got {self.min_lr_ratio})")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            problems.append("beta1 and beta2 must be in [0, 1)")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append(f"device must be auto, cpu or cuda (got {self.device!r})")
        if problems:
            raise ValueError("; ".join(problems))
