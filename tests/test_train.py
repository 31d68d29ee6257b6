"""Training: the model directory it writes, determinism, resume parity, early stopping, atomic writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import TINY_MODEL, TINY_TRAIN
from pahat import train as train_module
from pahat.checkpoint import load_model
from pahat.errors import PahatError
from pahat.files import atomic_write_bytes
from pahat.train import TrainConfig, lr_at, train

QUIET = {"progress": False, "say": lambda line: None}


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def test_run_directory_is_a_complete_model(tiny_run: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "prepare.json", "train_config.json", "checkpoint.safetensors", "log.jsonl", "loss.png"):
        assert (tiny_run / name).is_file(), name
    assert (tiny_run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [json.loads(line) for line in (tiny_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12]
    for r in rows:
        assert {"step", "tokens", "train_loss", "lr", "tokens_per_s", "elapsed_s"} <= set(r)
    assert [r["step"] for r in rows if "val_loss" in r] == [4, 8, 12]
    assert rows[-1]["tokens"] == 12 * 8 * 32
    model, tok = load_model(tiny_run)
    assert model.config.embedding_dim == 32 and model.config.vocab_size == tok.get_vocab_size()
    # No pickle anywhere: every file parses as what it claims to be.
    for path in tiny_run.iterdir():
        if path.suffix == ".safetensors":
            load_file(str(path))
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            [json.loads(line) for line in path.read_text().splitlines()]
        else:
            assert path.name == "loss.png", path


def test_loss_goes_down(tiny_run: Path) -> None:
    rows = [json.loads(line) for line in (tiny_run / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.5


def test_best_weights_are_the_lowest_validation_loss(small_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "r"
    summary = train(small_data, run, TINY_MODEL, TINY_TRAIN, **QUIET)
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if "val_loss" in line]
    best = min(rows, key=lambda r: r["val_loss"])
    assert summary["best_step"] == best["step"] and summary["best_val_loss"] == best["val_loss"]
    model, _ = load_model(run)
    cfg = TrainConfig(**{**TINY_TRAIN})
    got = train_module.evaluate(model, train_module.TokenData(small_data / "val.bin"), cfg, torch.device("cpu"))
    assert abs(got - best["val_loss"]) < 1e-4


def test_same_seed_same_weights(small_data: Path, tmp_path: Path) -> None:
    short = {**TINY_TRAIN, "max_steps": 4}
    train(small_data, tmp_path / "a", TINY_MODEL, short, **QUIET)
    train(small_data, tmp_path / "b", TINY_MODEL, short, **QUIET)
    train(small_data, tmp_path / "c", TINY_MODEL, {**short, "seed": 1}, **QUIET)
    a, b, c = weights(tmp_path / "a"), weights(tmp_path / "b"), weights(tmp_path / "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_gives_the_same_run_as_no_interruption(small_data: Path, tmp_path: Path, monkeypatch) -> None:
    straight = tmp_path / "straight"
    train(small_data, straight, TINY_MODEL, TINY_TRAIN, **QUIET)
    split = tmp_path / "split"
    real_lr_at = train_module.lr_at

    def interrupt_at_step_9(step, cfg):  # Ctrl-C after step 9; the checkpoint of step 8 stays
        if step == 9:
            raise KeyboardInterrupt
        return real_lr_at(step, cfg)

    monkeypatch.setattr(train_module, "lr_at", interrupt_at_step_9)
    summary = train(small_data, split, TINY_MODEL, TINY_TRAIN, **QUIET)
    assert "interrupted" in summary["stopped"]
    monkeypatch.setattr(train_module, "lr_at", real_lr_at)
    train(None, split, None, None, resume=True, **QUIET)
    a, b = weights(straight), weights(split)
    assert all(torch.equal(a[k], b[k]) for k in a)
    ck_a, ck_b = load_file(str(straight / "checkpoint.safetensors")), load_file(str(split / "checkpoint.safetensors"))
    assert ck_a.keys() == ck_b.keys() and all(torch.equal(ck_a[k], ck_b[k]) for k in ck_a)
    strip = lambda p: [{k: v for k, v in json.loads(x).items() if k not in ("tokens_per_s", "elapsed_s")} for x in (p / "log.jsonl").read_text().splitlines()]  # noqa: E731
    assert strip(straight) == strip(split)


def test_resume_refuses_to_change_what_is_trained(tiny_run: Path) -> None:
    with pytest.raises(PahatError, match="cannot change on --resume"):
        train(None, tiny_run, None, {"learning_rate": 1.0}, resume=True, **QUIET)
    with pytest.raises(PahatError, match="shape is fixed"):
        train(None, tiny_run, {"hidden_dim": 8}, None, resume=True, **QUIET)
    with pytest.raises(PahatError, match="cannot change"):
        train(None, tiny_run, None, {"eval_max_windows": 3}, resume=True, **QUIET)


def test_resume_with_the_original_flags_is_accepted(small_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "r"
    train(small_data, run, TINY_MODEL, {**TINY_TRAIN, "max_steps": 4}, **QUIET)
    summary = train(small_data, run, TINY_MODEL, {**TINY_TRAIN, "max_steps": 6}, resume=True, **QUIET)
    assert summary["steps"] == 6


def test_early_stopping_keeps_the_best(small_data: Path, tmp_path: Path, monkeypatch) -> None:
    losses = iter([3.0, 2.0, 2.5, 2.6, 2.7, 2.8, 2.9])
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: next(losses))
    saved_at: list[int] = []
    real_save = train_module.save_weights
    monkeypatch.setattr(train_module, "save_weights", lambda run, model: (saved_at.append(len(saved_at)), real_save(run, model)))
    summary = train(small_data, tmp_path / "r", TINY_MODEL, {**TINY_TRAIN, "eval_interval": 1, "max_steps": 50, "patience": 2}, **QUIET)
    assert summary["steps"] == 4 and summary["best_step"] == 2 and "early stopping" in summary["stopped"]
    assert len(saved_at) == 2  # the two improvements, not the worse ones


def test_existing_run_directory_is_not_overwritten(tiny_run: Path, small_data: Path) -> None:
    before = (tiny_run / "model.safetensors").read_bytes()
    with pytest.raises(PahatError, match="--resume"):
        train(small_data, tiny_run, TINY_MODEL, TINY_TRAIN, **QUIET)
    assert (tiny_run / "model.safetensors").read_bytes() == before


def test_user_mistakes_end_in_one_sentence(small_data: Path, tmp_path: Path) -> None:
    with pytest.raises(PahatError, match="no prepare.json"):
        train(tmp_path, tmp_path / "r", None, None, **QUIET)
    with pytest.raises(PahatError, match="batch_size must be >= 1"):
        train(small_data, tmp_path / "r", None, {"batch_size": 0}, **QUIET)
    with pytest.raises(PahatError, match="divisible"):
        train(small_data, tmp_path / "r", {"embedding_dim": 30, "num_heads_attention": 4}, None, **QUIET)
    with pytest.raises(PahatError, match="does not match the tokenizer"):
        train(small_data, tmp_path / "r", {"vocab_size": 5}, None, **QUIET)
    with pytest.raises(PahatError, match="fewer than max_seq_len"):
        train(small_data, tmp_path / "r", {"max_seq_len": 10**7}, None, **QUIET)
    with pytest.raises(PahatError, match="no checkpoint|not a model directory"):
        train(None, tmp_path / "nothing", None, None, resume=True, **QUIET)
    assert not (tmp_path / "r").exists()


def test_schedule_warms_up_then_decays_to_the_floor() -> None:
    cfg = TrainConfig(learning_rate=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55)  # halfway down the cosine
    assert lr_at(110, cfg) == pytest.approx(0.1) and lr_at(500, cfg) == pytest.approx(0.1)
    lrs = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temporary left behind


@pytest.mark.slow
def test_killed_training_leaves_a_loadable_directory_that_resumes(small_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "r"
    args = [sys.executable, "-m", "pahat", "train", "--data", str(small_data), "--out", str(run), "--quiet"]
    for k, v in {**TINY_MODEL, **TINY_TRAIN, "eval_interval": 1, "log_interval": 1, "max_steps": 100000}.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    seen_states = 0
    while time.time() < deadline:
        # Load while the trainer keeps replacing files: every read must succeed.
        if (run / "config.json").is_file():
            load_model(run)
            seen_states += 1
        log = run / "log.jsonl"
        if log.is_file() and len(log.read_text().splitlines()) >= 8:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert seen_states > 0
    load_model(run)
    checkpoint_step = json.loads(load_file_metadata(run / "checkpoint.safetensors")["trainer_state"])["step"]
    assert checkpoint_step >= 7  # eval_interval 1: a checkpoint per step
    summary = train(None, run, None, {"max_steps": checkpoint_step + 3}, resume=True, **QUIET)
    assert summary["steps"] == checkpoint_step + 3
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, checkpoint_step + 4))  # no step logged twice, none missing


def load_file_metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def test_resume_before_the_first_checkpoint_starts_over_identically(small_data: Path, tmp_path: Path, monkeypatch) -> None:
    straight = tmp_path / "straight"
    train(small_data, straight, TINY_MODEL, TINY_TRAIN, **QUIET)
    early = tmp_path / "early"
    real_lr_at = train_module.lr_at
    monkeypatch.setattr(train_module, "lr_at", lambda step, cfg: (_ for _ in ()).throw(KeyboardInterrupt) if step == 2 else real_lr_at(step, cfg))
    train(small_data, early, TINY_MODEL, TINY_TRAIN, **QUIET)
    assert not (early / "checkpoint.safetensors").exists()
    load_model(early)  # loads already: the untrained weights
    monkeypatch.setattr(train_module, "lr_at", real_lr_at)
    train(None, early, None, None, resume=True, **QUIET)
    a, b = weights(straight), weights(early)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_data_prepared_again(tiny_run: Path, small_corpus: Path, tmp_path: Path) -> None:
    from pahat.prepare import prepare

    other = tmp_path / "other"
    prepare(small_corpus, other, vocab_size=380, val_fraction=0.2, warn=lambda line: None)
    with pytest.raises(PahatError, match="tokenizer .* differs"):
        train(other, tiny_run, None, None, resume=True, **QUIET)


def test_resuming_an_early_stopped_run_does_not_train_on(small_data: Path, tmp_path: Path, monkeypatch) -> None:
    losses = iter([3.0, 3.5, 3.6])
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: next(losses))
    run = tmp_path / "r"
    first = train(small_data, run, TINY_MODEL, {**TINY_TRAIN, "eval_interval": 1, "patience": 2}, **QUIET)
    assert first["steps"] == 3
    again = train(None, run, None, None, resume=True, **QUIET)
    assert again["steps"] == 3 and "already stopped early" in again["stopped"]


def test_a_torn_log_line_does_not_break_resume(small_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "r"
    train(small_data, run, TINY_MODEL, {**TINY_TRAIN, "max_steps": 4}, **QUIET)
    with open(run / "log.jsonl", "a") as f:
        f.write('{"step": 5, "tokens": 12')  # killed mid-line
    train(None, run, None, {"max_steps": 6}, resume=True, **QUIET)
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [2, 4, 6]


def test_config_file_values_are_type_checked(small_data: Path, tmp_path: Path) -> None:
    from pahat.train import split_config_file

    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"batch_size": "32", "embedding_dim": 64}))
    model_part, train_part = split_config_file(cfg)
    assert model_part == {"embedding_dim": 64} and train_part == {"batch_size": "32"}
    with pytest.raises(PahatError, match="batch_size must be an int"):
        train(small_data, tmp_path / "r", model_part, train_part, **QUIET)
    cfg.write_text(json.dumps({"layers": 3}))
    with pytest.raises(PahatError, match="unknown keys"):
        split_config_file(cfg)
