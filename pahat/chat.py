"""Chat with a trained model in the turn format `pahat prepare` defined, interactively or from piped stdin.

    pahat chat --model runs/demo            # type a message, the reply streams back
    printf 'Halo, apa kabar?\\n' | pahat chat --model runs/demo --seed 1   # one reply line per input line

The conversation so far is written as `<|begin|><|user|>…<|assistant|>…<|user|>…`
and the model replies after a final `<|assistant|>`, until it writes `<|user|>`
or `<|end|>`. The oldest exchanges are dropped when the conversation outgrows
the model's window, keeping room for the reply. Commands: /reset, /exit, /help.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator, TextIO

from tokenizers import Tokenizer

from pahat.generate import GenerationConfig, Model, max_seq_len_of, new_generator, stream_ids
from pahat.stream import token_bytes
from pahat.tokenizer import ASSISTANT, BEGIN, END, USER, chat_prompt_ids, special_ids

HELP = "commands: /reset forgets the conversation, /exit ends it, /help shows this"


class ChatSession:
    """The turns so far and how to extend them by one exchange."""

    def __init__(self, model: Model, tok: Tokenizer, cfg: GenerationConfig) -> None:
        self.model, self.tok, self.cfg = model, tok, cfg
        self.turns: list[str] = []  # user, assistant, user, assistant ...
        special = special_ids(tok)
        self.stop_ids = frozenset({special[USER], special[END], special[BEGIN]})
        self.suppress_ids = frozenset({special[ASSISTANT]})
        self.table = token_bytes(tok)
        # One random stream for the whole session: with --seed the session is
        # reproducible, yet each reply draws fresh numbers.
        self.generator = new_generator(cfg)
        self.window = max_seq_len_of(model)
        # Room kept for the reply: max_new_tokens, but at most half the window, so
        # some conversation always fits. A reply never outgrows the window (see reply).
        self.prompt_budget = self.window - max(1, min(cfg.max_new_tokens, self.window // 2))

    def reset(self) -> None:
        self.turns = []

    def prompt_ids(self, message: str) -> list[int]:
        """The conversation plus this message, oldest exchanges dropped until it fits the budget.

        Raises ValueError with one sentence when the message alone does not fit.
        """
        kept = list(self.turns)
        while True:
            ids = chat_prompt_ids(self.tok, kept + [message])
            if len(ids) <= self.prompt_budget:
                self.turns = kept  # the dropped exchanges are gone only once the message fits
                return ids
            if not kept:
                raise ValueError(
                    f"that message is {len(ids)} tokens with its markers, and this model reads at most "
                    f"{self.prompt_budget} before its reply; send a shorter one"
                )
            kept = kept[2:]  # drop the oldest exchange, so turns still start with the user

    def reply(self, message: str) -> Iterator[str]:
        """Stream the model's reply to message; the exchange is remembered once the reply is complete."""
        ids = self.prompt_ids(message)
        # The reply ends where the window does, so the model never loses the start of
        # the conversation (or its <|user|> marker) in the middle of a reply.
        room = self.window - len(ids)
        cfg = replace(self.cfg, max_new_tokens=min(self.cfg.max_new_tokens, room), min_new_tokens=min(self.cfg.min_new_tokens, room))
        pieces: list[str] = []
        for piece in stream_ids(self.model, self.tok, ids, cfg, self.stop_ids, self.suppress_ids, self.table, self.generator):
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
        command = message.lower()
        # Piped, every input line gets exactly one output line (maybe empty), so
        # a script can pair them; only the exact commands are commands.
        if not message:
            if not interactive:
                print(file=stdout, flush=True)
            continue
        if command in ("/exit", "/quit"):
            return 0
        if command == "/reset":
            session.reset()
            print("(the conversation is forgotten)" if interactive else "", file=stdout, flush=True)
            continue
        if command == "/help":
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
