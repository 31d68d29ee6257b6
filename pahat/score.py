"""Score a model on text in bits per character, beside two baselines trained on the model's own training split.

    pahat eval --model runs/demo --text novel/bab-12.txt [--json]
    pahat eval --model runs/demo --split val

What is scored. The text (a corpus file or folder, read like `pahat corpus
check` reads one) is written in the model's format, document after document
(`<|begin|>…<|end|>`, conversations with their turn markers), and encoded
into one token stream, exactly as `pahat prepare` builds train.bin. Every
token after the first is predicted from the tokens before it.

Bits per character = total negative log-likelihood in bits ÷ characters of
the original text (the formatted text without its special tokens). It does
not depend on the tokenizer, so models with different vocabularies compare.
Perplexity is per token of this model's tokenizer: exp(mean loss in nats).

Sliding window. The model reads at most max_seq_len (W) tokens. The first
window scores its W targets; each later window starts `stride` (S) tokens
further and scores only the targets the earlier ones did not, so every token
is scored once and, past the first window, with at least W − S + 1 tokens of
context. The default S = W/2 costs two forward passes per window of text;
S = W is the cheapest (context restarts at every window), S = 1 the fullest.

Baselines, trained only on the training split of the data the model was
trained on (train_config.json names the folder; its tokenizer must be the
model's):
- an interpolated modified Kneser–Ney n-gram model over the same tokens
  (pahat.ngram), scored on the same targets, context limited to the stream;
- xz -9e, conditional: bits(xz(train + text)) − bits(xz(train)). Special
  tokens become one control character each, so structure costs xz about what
  it costs the model. xz's -9 dictionary is 64 MiB: on a larger training
  split it sees only the last 64 MiB of it.
"""

from __future__ import annotations

import json
import lzma
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from pahat.checkpoint import TOKENIZER, TRAIN_CONFIG, load_model, same_tokenizer
from pahat.corpus import Document, read_corpus
from pahat.errors import PahatError
from pahat.model import LightweightLanguageModel
from pahat.ngram import BASELINE_ORDERS, DEFAULT_BASELINE_ORDER, KneserNey
from pahat.prepare import content_characters, document_text, documents_of_stream
from pahat.tokenizer import ASSISTANT, BEGIN, END, USER

# Each special token becomes one byte that never occurs in prose, for xz.
XZ_MARKERS = {BEGIN: "\x02", END: "\x03", USER: "\x11", ASSISTANT: "\x12"}
XZ_PRESET = 9 | lzma.PRESET_EXTREME  # what `xz -9e` uses
# The LZMA2 stream alone, without the .xz container: the container pads to 4
# bytes, which would blur a short text's cost by up to 32 bits.
XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": XZ_PRESET}]


@dataclass(frozen=True)
class TextToScore:
    """Documents in the model's format, as text and as one token stream."""

    name: str  # the path, or "validation split" …
    documents: list[Document]
    text: str  # every document formatted (special tokens spelled out), concatenated
    ids: np.ndarray  # (N,) int64, the token stream of text

    @property
    def characters(self) -> int:
        return content_characters(self.text)


@dataclass(frozen=True)
class Score:
    """Bits spent by one predictor on the whole text."""

    name: str
    bits: float
    characters: int
    tokens: int | None  # scored tokens; None for xz, which reads bytes

    @property
    def bits_per_char(self) -> float:
        return self.bits / self.characters

    @property
    def bits_per_token(self) -> float | None:
        return self.bits / self.tokens if self.tokens else None

    @property
    def perplexity(self) -> float | None:
        return 2.0 ** self.bits_per_token if self.tokens else None

    def to_json(self) -> dict:
        return {
            "bits_per_char": round(self.bits_per_char, 5),
            "bits_per_token": None if self.tokens is None else round(self.bits_per_token, 5),
            "perplexity": None if self.tokens is None else round(self.perplexity, 4),
        }


def saving(model: Score, baseline: Score) -> float | None:
    """1 - model bits / baseline bits: the share of the baseline's bits the model does without (< 0: it needs more)."""
    return 1 - model.bits / baseline.bits if baseline.bits > 0 else None


@dataclass
class EvalResult:
    text: str
    documents: int
    documents_in_training: int | None  # None: not checked (no training data loaded)
    characters: int
    tokens: int
    window: int
    stride: int
    model: Score
    baselines: list[Score] = field(default_factory=list)
    ngram_order: int | None = None
    baseline_data: str | None = None  # the prepared data folder the baselines learned from
    baseline_train_tokens: int | None = None

    def to_json(self) -> dict:
        out = {
            "text": self.text,
            "documents": self.documents,
            "documents_in_training": self.documents_in_training,
            "characters": self.characters,
            "tokens": self.tokens,
            "loss": round(self.model.bits / self.tokens * math.log(2), 5),  # nats per token, as training logs it
            **self.model.to_json(),
            "window": self.window,
            "stride": self.stride,
            "baselines": {},
        }
        for b in self.baselines:
            key = "kneser_ney" if b.tokens else "xz"
            share = saving(self.model, b)
            out["baselines"][key] = {**b.to_json(), "model_saves": None if share is None else round(share, 5)}
            if b.tokens:
                out["baselines"][key]["order"] = self.ngram_order
        if self.baselines:
            out["baselines"]["data"] = self.baseline_data
            out["baselines"]["train_tokens"] = self.baseline_train_tokens
        return out


# ---------------------------------------------------------------- what is scored


def encode_documents(name: str, documents: list[Document], tok: Tokenizer) -> TextToScore:
    texts = [document_text(d) for d in documents]
    ids = np.fromiter((i for e in tok.encode_batch(texts) for i in e.ids), dtype=np.int64)
    return TextToScore(name, documents, "".join(texts), ids)


def read_text_to_score(path: str | Path, tok: Tokenizer, warn=lambda line: print(line, file=sys.stderr)) -> TextToScore:
    """A corpus file or folder; malformed files and lines are reported and skipped, as in `pahat prepare`."""
    corpus = read_corpus(path)
    for problem in corpus.problems:
        warn(f"skipped {problem}")
    if not corpus.documents:
        raise PahatError(f"{path} holds no readable document; fix the problems listed above and run again")
    return encode_documents(str(path), corpus.documents, tok)


@dataclass(frozen=True)
class TrainingData:
    """The prepared data a model was trained on, as far as the baselines need it."""

    folder: Path
    train_ids: np.ndarray  # (N,) int64: train.bin
    train_text: str  # train.bin decoded: the training documents in the model's format


def training_data_folder(run_dir: Path, data_dir: str | Path | None = None, hint: str = "") -> Path:
    """The prepared data folder of a model directory, checked to hold the model's own tokenizer.

    hint ends each error sentence with what else the caller allows (", or --no-baselines").
    """
    if data_dir is None:
        config = run_dir / TRAIN_CONFIG
        try:
            data_dir = json.loads(config.read_text(encoding="utf-8"))["data"]
        except (OSError, ValueError, KeyError, TypeError):
            raise PahatError(f"{config} does not say which data the model was trained on; pass --data DATA_DIR{hint}") from None
    folder = Path(data_dir)
    if not (folder / "train.bin").is_file() or not (folder / TOKENIZER).is_file():
        raise PahatError(f"the prepared data {folder} that {run_dir} was trained on is gone; pass --data with the folder `pahat prepare` wrote for it{hint}")
    if not same_tokenizer(folder, run_dir):
        raise PahatError(f"the tokenizer in {folder} differs from the model's (the data was prepared again since it was trained); pass --data with the original folder{hint}")
    return folder


def read_token_file(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype="<u2").astype(np.int64)


def load_training_data(run_dir: Path, tok: Tokenizer, data_dir: str | Path | None = None, hint: str = "") -> TrainingData:
    folder = training_data_folder(run_dir, data_dir, hint)
    ids = read_token_file(folder / "train.bin")
    return TrainingData(folder, ids, tok.decode(ids.tolist(), skip_special_tokens=False))


def read_split_to_score(folder: Path, split: str, tok: Tokenizer) -> TextToScore:
    """val.bin or train.bin of a prepared data folder, decoded back into its documents."""
    path = folder / f"{split}.bin"
    if not path.is_file():
        raise PahatError(f"{path} is missing; prepare the data again with `pahat prepare`")
    ids = read_token_file(path)
    if len(ids) < 2:
        raise PahatError(f"the {split} split in {folder} is empty; prepare the data with a larger --val-fraction")
    text = tok.decode(ids.tolist(), skip_special_tokens=False)
    return TextToScore(f"{'validation' if split == 'val' else 'training'} split of {folder}", documents_of_stream(text, path), text, ids)


def documents_in_training(score_text: TextToScore, train_text: str) -> int:
    """How many of the documents are, word for word, training documents (their loss says little)."""
    seen = set(train_text.split(END))
    return sum(document_text(d).removesuffix(END) in seen for d in score_text.documents)


# ---------------------------------------------------------------- the model


def score_windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int]]:
    """(start, first) per window: inputs ids[start : start + L], targets from offset `first` on are scored.

    L = min(window, n_tokens - 1). Target j of a window is token start + 1 + j;
    over all windows the scored targets are tokens 1 .. n_tokens - 1, each once.
    """
    if not 1 <= stride <= window:
        raise ValueError(f"stride must be between 1 and the window ({window}); got {stride}")
    if n_tokens < 2:
        return []
    length = min(window, n_tokens - 1)
    plan: list[tuple[int, int]] = []
    done = 0  # targets 1 .. done are scored
    start = 0
    while done < n_tokens - 1:
        start = min(start, n_tokens - 1 - length)  # the last window stays full, with more context
        plan.append((start, done - start))
        done = start + length
        start += stride
    return plan


@torch.inference_mode()
def model_nll(model: LightweightLanguageModel, ids: np.ndarray, stride: int, batch_size: int = 16, progress: bool = False) -> np.ndarray:
    """Loss in nats of every token after the first, (N - 1,) float64, by the sliding window."""
    window = model.config.max_seq_len
    plan = score_windows(len(ids), window, stride)
    out = np.full(max(len(ids) - 1, 0), np.nan)
    if not plan:
        return out
    length = min(window, len(ids) - 1)
    stream = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
    device = next(model.parameters()).device
    batches = range(0, len(plan), batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="scoring", unit="batch", leave=False)
    for b in batches:
        chunk = plan[b : b + batch_size]
        starts = torch.tensor([s for s, _ in chunk])
        win = stream[starts[:, None] + torch.arange(length + 1)].to(device)  # (B, L + 1)
        logits, _ = model(win[:, :-1])  # (B, L, vocab)
        nll = F.cross_entropy(logits.float().transpose(1, 2), win[:, 1:], reduction="none").double().cpu().numpy()  # (B, L)
        for (start, first), row in zip(chunk, nll):
            out[start + first : start + length] = row[first:]  # target start + 1 + j sits at out[start + j]
    return out


# ---------------------------------------------------------------- the baselines


def ngram_bits(train_ids: np.ndarray, ids: np.ndarray, order: int, vocab_size: int) -> float:
    """Bits of tokens 1 .. N-1 of ids under a Kneser–Ney model of train_ids."""
    return float(-KneserNey(order, vocab_size).fit(train_ids).log2_probs(ids, start=1).sum())


def xz_bytes(text: str) -> bytes:
    for token, marker in XZ_MARKERS.items():
        text = text.replace(token, marker)
    return text.encode("utf-8")


def xz_bits(train_text: str, text: str) -> float:
    """Bits xz -9e needs for text once it has read the training text: size(train + text) - size(train)."""
    train = xz_bytes(train_text)
    both = xz_compress(train + xz_bytes(text))
    alone = xz_compress(train)
    return 8.0 * (len(both) - len(alone))


def xz_compress(data: bytes) -> bytes:
    """The LZMA2 stream `xz -9e` writes (tests/test_eval.py finds it inside the xz binary's output)."""
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=XZ_FILTERS)


# ---------------------------------------------------------------- the whole measurement


def check_settings(window: int, stride: int | None, ngram_order: int) -> int:
    """The stride to use (default window // 2); a PahatError for a value out of range."""
    default = max(1, window // 2)
    stride = default if stride is None else stride
    if not 1 <= stride <= window:
        raise PahatError(f"--stride must be between 1 and the model's window, {window}; {default} is the default")
    if ngram_order not in BASELINE_ORDERS:
        raise PahatError(f"--ngram-order must be one of {', '.join(map(str, BASELINE_ORDERS))}; {DEFAULT_BASELINE_ORDER} is the default")
    return stride


def evaluate_on(
    model: LightweightLanguageModel,
    tok: Tokenizer,
    target: TextToScore,
    training: TrainingData | None,
    stride: int | None = None,
    ngram_order: int = DEFAULT_BASELINE_ORDER,
    progress: bool = False,
    baselines: bool = True,
) -> EvalResult:
    """The model's score on target; with training data, which documents it trained on and (if baselines) the baselines'."""
    window = model.config.max_seq_len
    stride = check_settings(window, stride, ngram_order)
    characters = target.characters
    if characters == 0:
        raise PahatError(f"{target.name} has no characters to score; give text with words in it")
    tokens = len(target.ids) - 1
    nll = model_nll(model, target.ids, stride, progress=progress)
    result = EvalResult(
        text=target.name,
        documents=len(target.documents),
        documents_in_training=None,
        characters=characters,
        tokens=tokens,
        window=window,
        stride=stride,
        model=Score("pahat model", float(nll.sum() / math.log(2)), characters, tokens),
    )
    if training is not None:
        result.documents_in_training = documents_in_training(target, training.train_text)
    if training is not None and baselines:
        result.ngram_order = ngram_order
        result.baseline_data = str(training.folder)
        result.baseline_train_tokens = len(training.train_ids)
        result.baselines = [
            Score(f"Kneser-Ney {ngram_order}-gram", ngram_bits(training.train_ids, target.ids, ngram_order, tok.get_vocab_size()), characters, tokens),
            Score("xz -9e after the training text", xz_bits(training.train_text, target.text), characters, None),
        ]
    return result


def evaluate_model(
    run_dir: str | Path,
    text: str | Path | None = None,
    split: str | None = None,
    stride: int | None = None,
    ngram_order: int = DEFAULT_BASELINE_ORDER,
    baselines: bool = True,
    data_dir: str | Path | None = None,
    progress: bool = False,
) -> EvalResult:
    """`pahat eval`: score --text PATH or a --split of the model's own prepared data."""
    if (text is None) == (split is None):
        raise PahatError("give either --text PATH (a corpus file or folder) or --split val")
    run_dir = Path(run_dir)
    model, tok = load_model(run_dir)  # checks the directory first
    stride = check_settings(model.config.max_seq_len, stride, ngram_order)
    target = read_text_to_score(text, tok) if text is not None else None  # a mistyped path is named first
    hint = ", or --no-baselines to score the model alone" if text is not None else ""
    if baselines or split:
        training = load_training_data(run_dir, tok, data_dir, hint)
    else:
        try:  # only to say which documents the model trained on
            training = load_training_data(run_dir, tok, data_dir)
        except PahatError:
            training = None
    if split is not None:
        target = read_split_to_score(training.folder, split, tok)
    return evaluate_on(model, tok, target, training, stride, ngram_order, progress, baselines)


def saving_text(share: float | None) -> str:
    if share is None:
        return "(the baseline spent no bits)"
    return f"the model needs {share:.1%} fewer bits" if share >= 0 else f"the model needs {-share:.1%} MORE bits than this baseline"


def format_eval(result: EvalResult) -> str:
    """A table for the terminal: the model, then each baseline and how many bits the model saves on it."""
    lines = [
        f"text: {result.text}",
        f"      {result.documents:,} documents, {result.characters:,} characters, {result.tokens:,} tokens scored "
        f"(window {result.window}, stride {result.stride})",
        "",
        f"{'':<32}{'bits/char':>10}{'bits/token':>12}{'perplexity':>12}",
    ]
    fmt = lambda x, d: "-" if x is None else f"{x:.{d}f}"  # noqa: E731
    for s in [result.model, *result.baselines]:
        row = f"{s.name:<32}{s.bits_per_char:>10.4f}{fmt(s.bits_per_token, 3):>12}{fmt(s.perplexity, 2):>12}"
        if s is not result.model:
            row += f"   {saving_text(saving(result.model, s))}"
        lines.append(row)
    if result.baselines:
        lines += ["", f"baselines trained on the training split of {result.baseline_data} ({result.baseline_train_tokens:,} tokens)"]
    if result.documents_in_training:
        lines.append(
            f"warning: {result.documents_in_training} of {result.documents} documents are, word for word, in the training "
            "split; the model has seen them, so score held-out text (--split val) to see what it learned"
        )
    return "\n".join(lines)
