"""The model directory: what `pahat train` writes and every later command reads.

    model, tok = load_model("runs/demo")

    RUN_DIR/config.json          ModelConfig (the seed's hyperparameter names)
    RUN_DIR/model.safetensors    weights of the best checkpoint (lowest validation loss)
    RUN_DIR/tokenizer.json       the tokenizer from `pahat prepare`
    RUN_DIR/prepare.json         what the training data was (corpus, split, sizes)
    RUN_DIR/train_config.json    TrainConfig, for --resume and for the record
    RUN_DIR/checkpoint.safetensors  latest weights + AdamW moments + RNG states; trainer
                                 state as JSON in its metadata (one file, one atomic rename)
    RUN_DIR/log.jsonl, loss.png  the training log and its plot

Every file is replaced atomically (pahat.files), and a new directory is filled
under a temporary name and renamed into place, so a killed process leaves
either no model directory or one that loads.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open
from tokenizers import Tokenizer

from pahat.errors import PahatError
from pahat.files import atomic_save_safetensors, atomic_write_json
from pahat.model import LightweightLanguageModel, ModelConfig
from pahat.tokenizer import load_tokenizer

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"
PREPARE = "prepare.json"
TRAIN_CONFIG = "train_config.json"
CHECKPOINT = "checkpoint.safetensors"
REQUIRED = (CONFIG, WEIGHTS, TOKENIZER)


def model_state(model: LightweightLanguageModel) -> dict[str, torch.Tensor]:
    """state_dict without the tied alias: safetensors refuses two names for one storage."""
    state = model.state_dict()
    if model.config.tie_embeddings:
        state.pop("generator.decoder_proj.weight", None)
    return state


def load_model_state(model: LightweightLanguageModel, state: dict[str, torch.Tensor]) -> None:
    if model.config.tie_embeddings:
        state = dict(state, **{"generator.decoder_proj.weight": state["token_embedding.weight"]})
    model.load_state_dict(state, strict=True)


def save_weights(run_dir: str | Path, model: LightweightLanguageModel) -> None:
    atomic_save_safetensors(Path(run_dir) / WEIGHTS, model_state(model), metadata={"format": "pt", "producer": "pahat"})


def create_model_dir(
    run_dir: str | Path,
    model: LightweightLanguageModel,
    data_dir: str | Path,
    train_config: dict,
) -> None:
    """Create RUN_DIR whole, with the untrained weights, so it loads from its first moment.

    RUN_DIR may not exist yet, or be an empty folder; it is filled in a
    temporary sibling that is then renamed onto it.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise PahatError(
            f"{run_dir} already exists and is not an empty folder; pass --resume to continue its training, "
            "or choose another --out"
        )
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    try:
        data_dir = Path(data_dir)
        shutil.copyfile(data_dir / TOKENIZER, tmp / TOKENIZER)
        shutil.copyfile(data_dir / PREPARE, tmp / PREPARE)
        save_weights(tmp, model)
        atomic_write_json(tmp / TRAIN_CONFIG, train_config)
        atomic_write_json(tmp / CONFIG, model.config.to_dict())
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        if run_dir.exists():
            run_dir.rmdir()  # empty, checked above
        os.replace(tmp, run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_model_dir(run_dir: str | Path) -> Path:
    """The path, or a PahatError naming what is missing and what to do."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PahatError(f"model directory {run_dir} does not exist; train one with `pahat train --data DATA --out {run_dir}`")
    missing = [name for name in REQUIRED if not (run_dir / name).is_file()]
    if missing:
        raise PahatError(
            f"{run_dir} is not a complete model directory: {', '.join(missing)} missing; "
            "point --model at a folder written by `pahat train`"
        )
    return run_dir


def same_tokenizer(data_dir: str | Path, run_dir: str | Path) -> bool:
    """Whether a prepared data folder still holds the tokenizer a model directory was trained with."""
    return (Path(data_dir) / TOKENIZER).read_bytes() == (Path(run_dir) / TOKENIZER).read_bytes()


def read_model_config(run_dir: str | Path) -> ModelConfig:
    path = Path(run_dir) / CONFIG
    try:
        return ModelConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError) as err:
        raise PahatError(f"{path} is not a valid model config ({err}); restore it from your training run") from None


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[LightweightLanguageModel, Tokenizer]:
    """The best weights and the tokenizer of a model directory, model in eval mode."""
    run_dir = check_model_dir(run_dir)
    config = read_model_config(run_dir)
    model = LightweightLanguageModel(config)
    try:
        load_model_state(model, load_file(str(run_dir / WEIGHTS)))
    except (SafetensorError, RuntimeError, KeyError, OSError) as err:
        raise PahatError(f"{run_dir / WEIGHTS} cannot be loaded ({str(err).splitlines()[0]}); it does not match config.json") from None
    try:
        tok = load_tokenizer(run_dir / TOKENIZER)
    except Exception as err:  # tokenizers raises bare Exception subclasses
        raise PahatError(f"{run_dir / TOKENIZER} cannot be loaded ({err}); copy it again from your data folder") from None
    if tok.get_vocab_size() != config.vocab_size:
        raise PahatError(
            f"{run_dir / TOKENIZER} has {tok.get_vocab_size()} tokens but config.json says {config.vocab_size}; "
            "they come from different runs"
        )
    return model.to(device).eval(), tok


# ---------------------------------------------------------------- training state


def save_checkpoint(
    run_dir: str | Path,
    model: LightweightLanguageModel,
    optimizer: torch.optim.Optimizer,
    rng: dict[str, torch.Tensor],
    state: dict,
) -> None:
    """Latest weights, AdamW moments, RNG states and the trainer state, in one safetensors file."""
    tensors = {f"model.{k}": v for k, v in model_state(model).items()}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                tensors[f"optim.{names[id(p)]}.{key}"] = torch.as_tensor(value)
    tensors.update({f"rng.{k}": v for k, v in rng.items()})
    groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    meta = {"trainer_state": json.dumps(state), "param_groups": json.dumps(groups, default=str)}
    atomic_save_safetensors(Path(run_dir) / CHECKPOINT, tensors, metadata=meta)


def load_checkpoint(
    run_dir: str | Path, model: LightweightLanguageModel, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict]:
    """Restore weights and AdamW state in place; returns (rng states, trainer state)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise PahatError(f"{run_dir} has no {CHECKPOINT} to resume from; start a new run without --resume")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
        state = json.loads(meta["trainer_state"])
    except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as err:
        raise PahatError(f"{path} cannot be read ({err}); start a new run without --resume") from None
    load_model_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    device = next(model.parameters()).device
    params = dict(model.named_parameters())
    for name, p in params.items():
        moments = {k.rsplit(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"optim.{name}.") and k.count(".") == name.count(".") + 2}
        if moments:
            # "step" too: the fused AdamW used on a GPU keeps it on the parameter's device.
            optimizer.state[p] = {k: v.to(device) for k, v in moments.items()}
    rng = {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}
    return rng, state
