"""Shared fixtures: a small corpus cut from the bundled one, prepared once, and a tiny trained model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Small enough to train in seconds on 2 cores, big enough to exercise every path.
TINY_MODEL = {
    "embedding_dim": 32,
    "max_seq_len": 32,
    "num_heads_attention": 2,
    "num_layers_compress": 2,
    "hidden_dim": 64,
}
TINY_TRAIN = {"batch_size": 8, "learning_rate": 1e-2, "max_steps": 12, "warmup_steps": 2, "eval_interval": 4, "log_interval": 2, "eval_max_windows": 16}


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six stories and the first 40 conversations of one file."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "cerita").mkdir()
    for path in sorted((ROOT / "corpus" / "cerita").glob("*.txt"))[:6]:
        shutil.copy(path, root / "cerita" / path.name)
    lines = (ROOT / "corpus" / "percakapan" / "a_percakapan.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    (root / "percakapan.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def small_data(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pahat.prepare import prepare

    out = tmp_path_factory.mktemp("data")
    prepare(small_corpus, out, vocab_size=400, val_fraction=0.2, seed=0, warn=lambda line: None)
    return out


@pytest.fixture(scope="session")
def tiny_run(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pahat.train import train

    run = tmp_path_factory.mktemp("runs") / "tiny"
    train(small_data, run, TINY_MODEL, TINY_TRAIN, progress=False, say=lambda line: None)
    return run


def copy_run_without_its_data(run: Path, dest: Path) -> Path:
    """A copy of a model directory whose recorded training data folder no longer exists."""
    import json

    shutil.copytree(run, dest)
    config = json.loads((dest / "train_config.json").read_text())
    config["data"] = str(dest.parent / "gone")
    (dest / "train_config.json").write_text(json.dumps(config))
    return dest
