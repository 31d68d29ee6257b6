"""Settings as dataclass fields that carry their own help text, so each flag's help lives beside its default.

    batch_size: int = setting(32, "windows per optimizer step")

pahat.cli turns every such field into a `--kebab-case` flag with that help.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any


def setting(default: Any, help: str) -> Any:
    """A dataclass field with a default and the help string of its command-line flag."""
    return field(default=default, metadata={"help": help})
