"""End to end through the installed command: prepare -> train -> info -> generate, and its error sentences."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY_MODEL


def pahat(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([sys.executable, "-m", "pahat", *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
def test_prepare_train_info_generate(small_corpus: Path, tmp_path: Path) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    out = pahat("prepare", "--corpus", str(small_corpus), "--out", str(data), "--vocab-size", "350", "--val-fraction", "0.2")
    assert "tokens" in out.stdout and (data / "train.bin").is_file()
    flags = [x for k, v in TINY_MODEL.items() for x in ("--" + k.replace("_", "-"), str(v))]
    out = pahat("train", "--data", str(data), "--out", str(run), *flags, "--max-steps", "6", "--eval-interval", "3", "--batch-size", "4", "--quiet")
    assert "stopped (max_steps) at step 6" in out.stderr
    # The installed console script (pyproject's [project.scripts]) as well as `python -m pahat`.
    script = Path(sys.executable).parent / "pahat"
    info = json.loads(subprocess.run([str(script), "info", "--model", str(run), "--json"], capture_output=True, text=True, check=True).stdout)
    assert {"parameters", "parameters_non_embedding", "file_bytes", "forward_flops_128"} <= set(info)
    assert info["file_bytes"] == (run / "model.safetensors").stat().st_size
    text = pahat("generate", "--model", str(run), "--prompt", "Aku", "--max-new-tokens", "12", "--seed", "1").stdout
    assert text.startswith("Aku") and text[len("Aku") :].strip()  # the prompt, then something new
    again = pahat("generate", "--model", str(run), "--prompt", "Aku", "--max-new-tokens", "12", "--seed", "1").stdout
    assert text == again
    resumed = pahat("train", "--out", str(run), "--resume", "--max-steps", "9", "--quiet")
    assert "resuming" in resumed.stderr and "at step 9" in resumed.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["prepare", "--corpus", "/nonexistent/corpus", "--out", "x"], "does not exist"),
        (["train", "--data", "/nonexistent/data", "--out", "x"], "no prepare.json"),
        (["train", "--out", "x"], "--data is required"),
        (["info", "--model", "/nonexistent/run"], "does not exist"),
        (["generate", "--model", "/nonexistent/run", "--prompt", "Aku"], "does not exist"),
        (["generate", "--model", "x", "--prompt", "Aku", "--temperature", "-1"], "temperature"),
        (["train", "--data", "d", "--out", "x", "--config", "/nonexistent.json"], "config file"),
    ],
)
def test_user_mistakes_exit_2_with_one_sentence(args: list[str], message: str, tmp_path: Path, monkeypatch, capsys) -> None:
    from pahat.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(args)
    text = capsys.readouterr().err.strip()
    assert code == 2 and message in text and text.startswith("pahat: error: ") and "\n" not in text
    assert "Traceback" not in text


def test_bad_flag_types_are_refused_by_argparse(capsys) -> None:
    from pahat.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", "d", "--out", "r", "--batch-size", "many"])
    assert exc.value.code == 2 and "not a whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--data", "d", "--out", "r", "--activation", "relu"])


def test_the_command_starts_without_torch() -> None:
    """Building the parser and running a torch-free command must not import torch (1.4 s here)."""
    import subprocess
    import sys

    code = "import sys; from pahat.cli import main; main(['bobot', 'Aku pulang.']); assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2.1" in done.stdout
