"""Chat with a trained model in the turn format `pahat prepare` defined, interactively or from piped stdin.

    pahat chat --model runs/demo            # type a message, the reply streams back
    printf 'Halo, apa kabar?\\n' | pahat chat --model runs/demo --seed 1

The conversation so far is written as `<|begin|><|user|>…<|assistant|>…<|user|>…`
and the model replies after a final `<|assistant|>`, until it writes `<|user|>`
or `<|end|>`. The oldest exchanges are dropped when the conversation outgrows
the model's window, keeping room for the reply. Commands: /reset, /exit, /help.
"""

from __future__ import annotations

from typing import Iterator, TextIO

from tokenizers import Tokenizer

from pahat.generate import GenerationConfig, stream_ids
from pahat.model import LightweightLanguageModel
from pahat.stream import token_bytes
from pahat.tokenizer import ASSISTANT, BEGIN, END, USER, format_chat, special_ids

HELP = "commands: /reset forgets the conversation, /exit ends it, /help shows this"


class ChatSession:
    """The turns so far and how to extend them by one exchange."""

    def __init__(self, model: LightweightLanguageModel, tok: Tokenizer, cfg: GenerationConfig) -> None:
        self.model, self.tok, self.cfg = model, tok, cfg
        self.turns: list[str] = []  # user, assistant, user, assistant ...
        special = special_ids(tok)
        self.stop_ids = frozenset({special[USER], special[END], special[BEGIN]})
        self.suppress_ids = frozenset({special[ASSISTANT]})
        self.table = token_bytes(tok)
        window = model.config.max_seq_len
        # Room left for the reply before the window starts to slide.
        self.prompt_budget = window - max(1, window // 4)

    def reset(self) -> None:
        self.turns = []

    def prompt_ids(self, message: str) -> list[int]:
        """The conversation plus this message, oldest exchanges dropped until it fits the budget.

        Raises ValueError with one sentence when the message alone does not fit.
        """
        turns = self.turns + [message]
        while True:
            ids = self.tok.encode(format_chat(turns, open_reply=True)).ids
            if len(ids) <= self.prompt_budget:
                return ids
            if len(turns) == 1:
                raise ValueError(
                    f"that message is {len(ids)} tokens with its markers, and this model reads at most "
                    f"{self.prompt_budget} before its reply; send a shorter one"
                )
            turns = turns[2:]  # drop the oldest exchange, so turns still start with the user
            self.turns = self.turns[2:]

    def reply(self, message: str) -> Iterator[str]:
        """Stream the model's reply to message; the exchange is remembered once the reply is complete."""
        ids = self.prompt_ids(message)
        pieces: list[str] = []
        for piece in stream_ids(self.model, self.tok, ids, self.cfg, self.stop_ids, self.suppress_ids, self.table):
            pieces.append(piece)
            yield piece
        self.turns += [message, "".join(pieces).strip()]


def run_chat(session: ChatSession, stdin: TextIO, stdout: TextIO, interactive: bool) -> int:
    """The read-reply loop. Interactive: a prompt and a banner; piped: one reply line per message line."""
    if interactive:
        print(f"pahat chat. {HELP}.", file=stdout, flush=True)
    while True:
        if interactive:
            print("kamu> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:  # end of input
            if interactive:
                print(file=stdout)
            return 0
        message = " ".join(line.split())
        if not message:
            continue
        if message.startswith("/"):
            command = message.split()[0].lower()
            if command in ("/exit", "/quit"):
                return 0
            if command == "/reset":
                session.reset()
                if interactive:
                    print("(the conversation is forgotten)", file=stdout, flush=True)
            else:
                print(HELP, file=stdout, flush=True)
            continue
        if interactive:
            print("model> ", end="", file=stdout, flush=True)
        try:
            for piece in session.reply(message):
                # Piped: one reply, one line, whatever the model writes.
                print(piece if interactive else piece.replace("\n", " "), end="", file=stdout, flush=True)
        except ValueError as err:
            print(f"({err})", end="", file=stdout)
        print(file=stdout, flush=True)
