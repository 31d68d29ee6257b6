"""Train the model on prepared data: AdamW, warmup + cosine, clipping, validation, early stopping, resume.

    pahat train --data data/ --out runs/demo --max-steps 2000 --time-limit 9

The device is CUDA when present (with bf16 autocast when the GPU supports it),
else the CPU. RUN_DIR becomes a model directory (pahat.checkpoint) as soon as
training starts; the best weights so far are always in RUN_DIR/model.safetensors
and the latest full state in RUN_DIR/checkpoint.safetensors, both replaced
atomically, so `--resume` continues a run that was stopped or killed.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from pahat.checkpoint import (
    CHECKPOINT,
    CONFIG,
    TRAIN_CONFIG,
    create_model_dir,
    load_checkpoint,
    read_model_config,
    same_tokenizer,
    save_checkpoint,
    save_weights,
)
from pahat.config import TrainConfig
from pahat.errors import PahatError
from pahat.files import atomic_path, atomic_write_json, atomic_write_text
from pahat.model import LightweightLanguageModel, ModelConfig

LOG = "log.jsonl"
PLOT = "loss.png"


# Settings that may change when a run is resumed; the rest would change what is being trained.
# eval_max_windows is not among them: a different set of windows would make
# the best validation loss so far incomparable.
RESUMABLE = {"max_steps", "time_limit", "patience", "eval_interval", "log_interval", "device"}


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup over warmup_steps, then cosine from learning_rate to learning_rate * min_lr_ratio."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.learning_rate * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.learning_rate - floor) * (1 + math.cos(math.pi * progress))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PahatError("--device cuda was asked for but PyTorch sees no GPU; use --device cpu or auto")
    device = torch.device(name)
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise PahatError(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s), numbered from 0")
    return device


def uses_bf16(device: torch.device) -> bool:
    """A GPU with native bf16 (Ampere or newer); emulated bf16 on older cards is slower than fp32."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on a GPU that has it; fp32 elsewhere (on a CPU bf16 was measured slower at this size)."""
    if uses_bf16(device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_optimizer(model: LightweightLanguageModel, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on 2-D tensors (matrices, embeddings), none on biases and LayerNorm."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), fused=fused)


def train_step(
    model: LightweightLanguageModel, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig
) -> torch.Tensor:
    """One optimizer step on a batch x, y (B, T); returns the loss, detached, still on the device.

    The loss is computed by the fused kernel (return_logits=False): the
    (B, T, vocab) logits are never built. bench/train_throughput.py times this.
    """
    with autocast_for(x.device):
        _, loss = model(x, targets=y, return_logits=False)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


class TokenData:
    """A uint16 token file (train.bin / val.bin) read through np.memmap."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise PahatError(f"{path} is missing; run `pahat prepare --corpus DIR --out {path.parent}` first")
        self.path = path
        self.tokens = np.memmap(path, dtype=np.uint16, mode="r") if path.stat().st_size else np.zeros(0, np.uint16)

    def __len__(self) -> int:
        return len(self.tokens)

    def random_batch(self, batch_size: int, seq_len: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y), each (B, T) int64, y = x shifted by one; window starts drawn from gen."""
        starts = torch.randint(len(self.tokens) - seq_len, (batch_size,), generator=gen).numpy()
        window = self.windows(starts, seq_len + 1)
        return window[:, :-1], window[:, 1:]

    def windows(self, starts: np.ndarray, length: int) -> torch.Tensor:
        """Token ids at starts[i] .. starts[i] + length - 1, as int64: (len(starts), length)."""
        idx = np.asarray(starts)[:, None] + np.arange(length)[None, :]
        return torch.from_numpy(self.tokens[idx].astype(np.int64))

    def eval_windows(self, seq_len: int, max_windows: int) -> list[tuple[int, int]]:
        """(start, length) of non-overlapping windows whose targets tile the file, evenly thinned to max_windows."""
        n = len(self.tokens)
        if n < 2:
            return []
        length = min(seq_len, n - 1)
        starts = list(range(0, n - length, length))
        if len(starts) > max_windows:
            pick = np.linspace(0, len(starts) - 1, max_windows).round().astype(int)
            starts = [starts[i] for i in pick]
        return [(s, length) for s in starts]


@torch.no_grad()
def evaluate(model: LightweightLanguageModel, data: TokenData, cfg: TrainConfig, device: torch.device) -> float:
    """Mean cross-entropy per token (nats) over the validation windows; the same windows every time."""
    windows = data.eval_windows(model.config.max_seq_len, cfg.eval_max_windows)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), cfg.batch_size):
        chunk = windows[i : i + cfg.batch_size]
        length = chunk[0][1]
        window = data.windows(np.array([s for s, _ in chunk]), length + 1).to(device)
        with autocast_for(device):
            _, loss = model(window[:, :-1], targets=window[:, 1:], return_logits=False)
        total += loss.item() * window[:, 1:].numel()
        count += window[:, 1:].numel()
    model.train(was_training)
    return total / count if count else float("nan")


def read_prepare(data_dir: Path) -> dict:
    path = data_dir / "prepare.json"
    if not path.is_file():
        raise PahatError(f"{data_dir} has no prepare.json; run `pahat prepare --corpus DIR --out {data_dir}` first")
    return json.loads(path.read_text(encoding="utf-8"))


def plot_losses(log_path: Path, out_path: Path) -> None:
    """Train and validation loss against step, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    train = [(r["step"], r["train_loss"]) for r in rows if r.get("train_loss") is not None]
    val = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    if train:
        ax.plot(*zip(*train), label="train", linewidth=1)
    if val:
        ax.plot(*zip(*val), label="validation", marker="o", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def merge_config(base: dict, overrides: dict, cls: type) -> dict:
    """base (a dataclass as dict) with the overrides that are not None; unknown keys are an error."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise PahatError(f"unknown {cls.__name__} keys {unknown}; known keys are {sorted(known)}")
    for key, value in overrides.items():
        # A JSON config may say "32" where 32 is meant; name the key rather than fail deep inside.
        default = known[key].default
        kind = type(default)
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        ok = ok or (kind is float and isinstance(value, int) and not isinstance(value, bool))
        if value is not None and not ok:
            raise PahatError(f"setting {key} must be {'an' if kind is int else 'a'} {kind.__name__} like {default!r} (got {value!r})")
    return {**base, **{k: (float(v) if isinstance(known[k].default, float) else v) for k, v in overrides.items() if v is not None}}


def split_config_file(path: str | Path) -> tuple[dict, dict]:
    """A --config JSON file: flat keys of ModelConfig and TrainConfig (a run's config.json works too)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PahatError(f"config file {path} does not exist; give a JSON file of model and training settings") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PahatError(f"config file {path} is not valid JSON ({err}); fix it or drop --config") from None
    if not isinstance(data, dict):
        raise PahatError(f"config file {path} must hold one JSON object of settings")
    model_keys = {f.name for f in fields(ModelConfig)}
    train_keys = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - model_keys - train_keys)
    if unknown:
        raise PahatError(f"config file {path} has unknown keys {unknown}; see `pahat train --help` for the settings")
    return {k: v for k, v in data.items() if k in model_keys}, {k: v for k, v in data.items() if k in train_keys}


def _rng_state(gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state(), "batches": gen.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict[str, torch.Tensor], gen: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["batches"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def train(
    data_dir: str | Path | None,
    run_dir: str | Path,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
    resume: bool = False,
    progress: bool | None = None,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> dict:
    """Train (or resume) a model from DATA_DIR into RUN_DIR; returns a summary of the run.

    model_overrides / train_overrides: field -> value (None = not given); on a
    fresh run they apply over the defaults, on --resume over the saved run, where
    only RESUMABLE training fields may change.
    """
    run_dir = Path(run_dir)
    data_dir = Path(data_dir) if data_dir is not None else None  # on --resume it comes from the run
    model_overrides = {k: v for k, v in (model_overrides or {}).items() if v is not None}
    train_overrides = {k: v for k, v in (train_overrides or {}).items() if v is not None}
    if data_dir is None and not resume:
        raise PahatError("a new run needs --data, the folder written by `pahat prepare`")
    prep = read_prepare(data_dir) if not resume else None

    if resume:
        if not (run_dir / CONFIG).is_file() or not (run_dir / TRAIN_CONFIG).is_file():
            raise PahatError(f"{run_dir} is not a model directory to resume; drop --resume to start a new run there")
        saved = json.loads((run_dir / TRAIN_CONFIG).read_text(encoding="utf-8"))
        model_cfg = read_model_config(run_dir)
        changed = sorted(k for k, v in model_overrides.items() if v != getattr(model_cfg, k, None))
        if changed:
            raise PahatError(f"the model's shape is fixed once trained; drop {changed} when resuming")
        fixed = sorted(k for k, v in train_overrides.items() if k not in RESUMABLE and v != saved["train"].get(k))
        if fixed:
            raise PahatError(f"{fixed} cannot change on --resume (only {sorted(RESUMABLE)} can); start a new run instead")
        data_dir = data_dir or Path(saved["data"])
        prep = read_prepare(data_dir)
        if not same_tokenizer(data_dir, run_dir):
            raise PahatError(
                f"the tokenizer in {data_dir} differs from the one this run was trained with (the data was prepared "
                "again since); resume with the original data, or start a new run"
            )
        try:
            cfg = TrainConfig(**merge_config(saved["train"], train_overrides, TrainConfig))
        except ValueError as err:
            raise PahatError(f"{err}; fix the setting and run again") from None
    else:
        given_vocab = model_overrides.pop("vocab_size", None)
        if given_vocab is not None and given_vocab != prep["vocab_size"]:
            raise PahatError(
                f"vocab_size {given_vocab} does not match the tokenizer in {data_dir} ({prep['vocab_size']}); leave it out"
            )
        try:
            model_cfg = ModelConfig(**merge_config(asdict(ModelConfig()), {**model_overrides, "vocab_size": prep["vocab_size"]}, ModelConfig))
            cfg = TrainConfig(**merge_config(asdict(TrainConfig()), train_overrides, TrainConfig))
        except ValueError as err:
            raise PahatError(f"{err}; fix the setting and run again") from None

    train_data = TokenData(data_dir / "train.bin")
    val_data = TokenData(data_dir / "val.bin")
    T = model_cfg.max_seq_len
    if len(train_data) < T + 2:
        raise PahatError(
            f"the training split has {len(train_data)} tokens, fewer than max_seq_len + 2 = {T + 2}; "
            "add text to the corpus or lower --max-seq-len"
        )
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = LightweightLanguageModel(model_cfg).to(device)
    optimizer = build_optimizer(model, cfg)
    state = {"step": 0, "tokens": 0, "best_val_loss": None, "best_step": None, "evals_without_improvement": 0, "elapsed_s": 0.0}
    if resume and not (run_dir / CHECKPOINT).is_file():
        # Killed before its first checkpoint: the seed re-creates the initial
        # weights exactly, so starting over is the same run.
        _truncate_log(run_dir / LOG, 0)
        say(f"{run_dir} has no checkpoint yet; starting its training from step 0")
    elif resume:
        rng, state = load_checkpoint(run_dir, model, optimizer)
        _restore_rng(rng, gen, device)
        _truncate_log(run_dir / LOG, state["step"])
        say(f"resuming {run_dir} at step {state['step']}")
    else:
        create_model_dir(run_dir, model, data_dir, {"data": str(data_dir.resolve()), "train": asdict(cfg)})
    if resume:  # record what this invocation may have changed (max_steps, data folder ...)
        atomic_write_json(run_dir / TRAIN_CONFIG, {"data": str(data_dir.resolve()), "train": asdict(cfg)})

    say(
        f"training {model.num_parameters():,} parameters on {device} ({'bf16 autocast' if uses_bf16(device) else 'fp32'}); "
        f"{len(train_data):,} train tokens, {len(val_data):,} validation tokens; run directory {run_dir}"
    )
    if len(val_data) < 2:
        say("warning: the validation split is empty, so there is no early stopping and the last weights are kept")

    stop_reason = _loop(model, optimizer, cfg, state, train_data, val_data, gen, device, run_dir, progress, say)
    summary = {
        "run_dir": str(run_dir),
        "steps": state["step"],
        "tokens": state["tokens"],
        "best_val_loss": state["best_val_loss"],
        "best_step": state["best_step"],
        "elapsed_s": round(state["elapsed_s"], 1),
        "stopped": stop_reason,
    }
    say(
        f"stopped ({stop_reason}) at step {state['step']}; best validation loss "
        f"{state['best_val_loss'] if state['best_val_loss'] is None else round(state['best_val_loss'], 4)} "
        f"at step {state['best_step']}; model in {run_dir}"
    )
    return summary


def read_log(path: Path) -> list[dict]:
    """The records of log.jsonl; a torn last line (a kill mid-append) is skipped, not fatal."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


def _truncate_log(path: Path, step: int) -> None:
    """On resume, drop log lines written after the checkpoint the run restarts from."""
    kept = [row for row in read_log(path) if row["step"] <= step]
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in kept))


def _loop(model, optimizer, cfg, state, train_data, val_data, gen, device, run_dir, progress, say) -> str:
    """The training loop proper; returns why it stopped."""
    from tqdm import tqdm

    if cfg.patience and state["evals_without_improvement"] >= cfg.patience:
        return f"already stopped early ({state['evals_without_improvement']} evaluations without a new best); raise --patience to go on"
    T = model.config.max_seq_len
    model.train()
    start = time.perf_counter()
    elapsed_before = state["elapsed_s"]
    bar = tqdm(total=cfg.max_steps, initial=state["step"], unit="step", dynamic_ncols=True, disable=progress is False if progress is not None else None, file=sys.stderr)
    running_loss = torch.zeros((), device=device)
    running_steps = 0
    window_start, window_tokens = time.perf_counter(), 0
    stop_reason = "max_steps"
    log = open(run_dir / LOG, "a", encoding="utf-8")
    try:
        while state["step"] < cfg.max_steps:
            lr = lr_at(state["step"], cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = train_data.random_batch(cfg.batch_size, T, gen)
            x, y = x.to(device), y.to(device)
            loss = train_step(model, optimizer, x, y, cfg)
            state["step"] += 1
            state["tokens"] += x.numel()
            running_loss += loss.detach()
            running_steps += 1
            window_tokens += x.numel()
            step = state["step"]
            out_of_time = cfg.time_limit > 0 and time.perf_counter() - start >= cfg.time_limit * 60
            last = step >= cfg.max_steps or out_of_time
            do_eval = step % cfg.eval_interval == 0 or last
            if step % cfg.log_interval == 0 or do_eval:
                now = time.perf_counter()
                record = {
                    "step": step,
                    "tokens": state["tokens"],
                    "train_loss": round(running_loss.item() / running_steps, 5),
                    "lr": lr,
                    "tokens_per_s": round(window_tokens / max(now - window_start, 1e-9), 1),
                    "elapsed_s": round(elapsed_before + now - start, 2),
                }
                running_loss.zero_()
                running_steps = 0
                if do_eval and len(val_data) >= 2:
                    record["val_loss"] = round(evaluate(model, val_data, cfg, device), 5)
                    if state["best_val_loss"] is None or record["val_loss"] < state["best_val_loss"]:
                        state["best_val_loss"], state["best_step"] = record["val_loss"], step
                        state["evals_without_improvement"] = 0
                        save_weights(run_dir, model)
                    else:
                        state["evals_without_improvement"] += 1
                elif do_eval:
                    save_weights(run_dir, model)  # no validation text: keep the latest
                log.write(json.dumps(record) + "\n")
                log.flush()
                postfix = {"loss": f"{record['train_loss']:.3f}", "tok/s": f"{record['tokens_per_s']:.0f}"}
                if "val_loss" in record:
                    postfix["val"] = f"{record['val_loss']:.3f}"
                bar.set_postfix(postfix, refresh=False)
                if do_eval:
                    state["elapsed_s"] = elapsed_before + time.perf_counter() - start
                    save_checkpoint(run_dir, model, optimizer, _rng_state(gen, device), state)
                    plot_losses(run_dir / LOG, run_dir / PLOT)
                    if bar.disable:
                        say(f"step {step}/{cfg.max_steps}  train {record['train_loss']:.4f}  val {record.get('val_loss', float('nan')):.4f}  {record['tokens_per_s']:.0f} tok/s")
                window_start, window_tokens = time.perf_counter(), 0
                if cfg.patience and state["evals_without_improvement"] >= cfg.patience:
                    stop_reason = f"early stopping: no better validation loss in {cfg.patience} evaluations"
                    break
            bar.update(1)
            if out_of_time:
                stop_reason = f"time limit of {cfg.time_limit:g} minutes"
                break
    except KeyboardInterrupt:
        stop_reason = "interrupted; the last checkpoint is kept, continue with --resume"
    finally:
        bar.close()
        log.close()
    state["elapsed_s"] = elapsed_before + time.perf_counter() - start
    return stop_reason
