"""A model report in Markdown that a writer can read on its own: samples, style, bits per character, cost, loss curve.

    pahat report --model runs/demo [--out runs/demo/report.md]

The samples come from fixed prompts (story openings and chat messages in the
corpus's aku-kamu voice) with fixed seeds and fixed decoding settings, so two
reports of the same model are identical and reports of two models compare.
The style figures (pahat.style) of the generated text stand beside the same
figures for the training split; held-out bits per character (pahat.score)
stand beside the Kneser–Ney and xz baselines. The loss plot is drawn from
log.jsonl into a PNG beside the report (`report.md` → `report-loss.png`).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from pahat import __version__
from pahat.chat import ChatSession
from pahat.checkpoint import PREPARE, load_model
from pahat.corpus import Thresholds
from pahat.errors import PahatError
from pahat.files import atomic_write_text
from pahat.generate import GenerationConfig, generate, numpy_backend
from pahat.info import model_info
from pahat.prepare import documents_of_stream
from pahat.score import EvalResult, evaluate_on, load_training_data, read_split_to_score, saving
from pahat.style import REFERENCE_ROUNDS, StyleFigures, corpus_figures, lower_words, style_figures
from pahat.train import LOG, plot_losses, read_log

# Openings in the voice the writer asked for: first person, aku-kamu, everyday scenes.
PROSE_PROMPTS = (
    "Pagi itu aku bangun lebih awal dari biasanya.",
    "Hujan turun sejak sore, dan kamu belum juga pulang.",
    "Aku masih ingat hari pertama kita bertemu.",
    "Ibu selalu bilang bahwa",
    "Di stasiun itu, aku menunggu kereta terakhir.",
    "Kamu tahu, tidak semua hal harus",
)
CHAT_PROMPTS = (
    "Halo, apa kabar hari ini?",
    "Aku sedang sedih. Boleh aku cerita sebentar?",
    "Menurutmu, bagaimana cara memulai menulis novel?",
    "Terima kasih sudah menemaniku hari ini.",
)
SEEDS = (1, 2, 3)
PROSE_DECODING = GenerationConfig(max_new_tokens=120, min_new_tokens=40, temperature=0.8, top_k=40)
CHAT_DECODING = GenerationConfig(max_new_tokens=80, min_new_tokens=8, temperature=0.8, top_k=40)


@dataclass(frozen=True)
class Sample:
    kind: str  # "prose" or "chat"
    prompt: str
    seed: int
    text: str  # what the model wrote, without the prompt
    skipped: str | None = None  # why there is no text (a message longer than a tiny model's window)


def generate_samples(model, tok, seeds: tuple[int, ...] = SEEDS) -> list[Sample]:
    """Every prompt with every seed; a chat sample is the reply to the message as the first turn.

    The story openings run as one batch per seed (each row draws its own numbers);
    each chat message gets its own stream, seed * 100 + its index, so that two
    messages never share their random draws.
    """
    samples = []
    for seed in seeds:
        texts = generate(model, tok, list(PROSE_PROMPTS), replace(PROSE_DECODING, seed=seed))
        samples += [Sample("prose", p, seed, t[0]) for p, t in zip(PROSE_PROMPTS, texts)]
        for i, prompt in enumerate(CHAT_PROMPTS):
            session = ChatSession(model, tok, replace(CHAT_DECODING, seed=seed * 100 + i))
            try:
                samples.append(Sample("chat", prompt, seed, "".join(session.reply(prompt)).strip()))
            except ValueError as err:  # the message does not fit the window
                samples.append(Sample("chat", prompt, seed, "", skipped=str(err)))
    return samples


# ---------------------------------------------------------------- Markdown


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if kind == "%" else f"{value:.{kind}f}"


STYLE_ROWS = (
    # field, label, format, what the corpus gate asks (None: no gate), how to read it
    ("aku_kamu_share", "aku-kamu share of personal pronouns", "%", "min_aku_kamu_share", "the voice: near the corpus is good"),
    ("lexicon_coverage", "words in wordfreq's Indonesian list", "%", "min_lexicon_coverage", "low: invented or broken words"),
    ("distinct_1", "distinct-1 (distinct words ÷ words)", "3", None, "low: narrow vocabulary"),
    ("distinct_2", "distinct-2 (distinct word pairs ÷ pairs)", "3", None, "low: stock phrases"),
    ("repeated_4gram_rate", "repeated 4-gram rate", "%", None, "high: the model loops"),
    ("mean_sentence_length", "mean sentence length (words)", "1", None, "the rhythm of the prose"),
)


def style_table(generated: StyleFigures, reference: StyleFigures | None) -> list[str]:
    gates = Thresholds()
    lines = ["| figure | generated | training corpus | corpus gate | reading |", "|---|---:|---:|---:|---|"]
    for name, label, fmt, gate, reading in STYLE_ROWS:
        ref = _fmt(getattr(reference, name), fmt) if reference else "–"
        gate_text = f"≥ {_fmt(getattr(gates, gate), '%')}" if gate else ""
        lines.append(f"| {label} | {_fmt(getattr(generated, name), fmt)} | {ref} | {gate_text} | {reading} |")
    return lines


def eval_table(result: EvalResult) -> list[str]:
    lines = ["| predictor | bits per character | bits per token | perplexity | the model needs |", "|---|---:|---:|---:|---|"]
    for s in [result.model, *result.baselines]:
        share = None if s is result.model else saving(result.model, s)
        needs = "" if share is None else f"{share:.1%} fewer bits" if share >= 0 else f"**{-share:.1%} more bits**"
        lines.append(f"| {s.name} | {s.bits_per_char:.3f} | {_fmt(s.bits_per_token, '3')} | {_fmt(s.perplexity, '2')} | {needs} |")
    return lines


_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|])")


def escape(text: str) -> str:
    """Model output as literal Markdown text: its * _ # < [ ] and the like are shown, not interpreted."""
    return _MARKDOWN.sub(r"\\\1", text)


def _quote(text: str) -> str:
    return "\n".join("> " + line if line.strip() else ">" for line in text.split("\n"))


def samples_section(samples: list[Sample]) -> list[str]:
    first = min(s.seed for s in samples)
    lines = [
        f"One sample per prompt (seed {first}); the figures below use all {len(samples)} "
        f"({len({s.seed for s in samples})} seeds per prompt). The prompt is in **bold**.",
        "",
        "### Story openings",
        "",
    ]
    for s in samples:
        if s.seed == first and s.kind == "prose":
            lines += [_quote(f"**{s.prompt}**{escape(s.text)}"), ""]
    lines += ["### Chat", ""]
    for s in samples:
        if s.seed == first and s.kind == "chat":
            reply = escape(s.text) if s.skipped is None else f"*(not generated: {s.skipped})*"
            lines += [_quote(f"**kamu:** {s.prompt}\n\n**model:** {reply}"), ""]
    return lines


def build_report(run_dir: str | Path, out: Path, data_dir: str | Path | None = None, seeds: tuple[int, ...] = SEEDS) -> tuple[str, dict]:
    """The Markdown text and the figures in it (for --json and tests). Writes the loss plot beside `out`."""
    run_dir = Path(run_dir)
    model, tok = load_model(run_dir)  # checks the directory first
    cfg = model.config
    info = model_info(run_dir)
    samples = generate_samples(numpy_backend(model), tok, seeds)
    made = [s for s in samples if s.skipped is None]
    generated = style_figures([s.text for s in made])

    try:
        training = load_training_data(run_dir, tok, data_dir)
        missing_data = None
    except PahatError as err:
        training, missing_data = None, str(err)
    reference = held_out = None
    missing_val = missing_data
    if training is not None:
        lengths = [(len(lower_words(s.text)), s.kind) for s in made]
        reference = corpus_figures(documents_of_stream(training.train_text), lengths)
        try:
            held_out = evaluate_on(model, tok, read_split_to_score(training.folder, "val", tok), training)
        except PahatError as err:  # an empty or missing validation split
            missing_val = str(err)

    prepared = json.loads((run_dir / PREPARE).read_text(encoding="utf-8")) if (run_dir / PREPARE).is_file() else {}
    log = read_log(run_dir / LOG)
    val_rows = [r for r in log if r.get("val_loss") is not None]
    best = min(val_rows, key=lambda r: r["val_loss"]) if val_rows else None
    plot = out.with_name(f"{out.stem}-loss.png")
    if log:
        plot_losses(run_dir / LOG, plot)

    lines = [
        f"# Model report: {run_dir.name}",
        "",
        f"Model directory `{run_dir}`, written by pahat {__version__}. "
        + (f"Trained on the corpus `{prepared['corpus']}`." if prepared.get("corpus") else ""),
        "",
        "## Samples",
        "",
        *samples_section(samples),
        "## Style of the generated text",
        "",
        "Measured on what the model wrote (prompts left out), beside the training split of its corpus. "
        "Distinct-n and the 4-gram rate of the corpus are measured on excerpts as long as the samples, "
        f"averaged over {REFERENCE_ROUNDS} draws, since both depend on length.",
        "",
        *style_table(generated, reference),
        "",
    ]
    if reference is None:
        lines += [f"The corpus column is empty: {missing_data}", ""]
    lines += ["## Held-out text: bits per character", ""]
    if held_out is not None:
        lines += [
            f"The validation split ({held_out.documents} documents, {held_out.characters:,} characters, "
            f"{held_out.tokens:,} tokens), which the model never trained on, scored as `pahat eval --split val` "
            f"does (window {held_out.window}, stride {held_out.stride}). Both baselines learned from the same "
            f"training split ({held_out.baseline_train_tokens:,} tokens). Fewer bits per character is better.",
            "",
            *eval_table(held_out),
            "",
        ]
    else:
        lines += [f"Not measured: {missing_val}", ""]
    lines += ["## Training", ""]
    if best is not None:
        last = log[-1]
        lines.append(
            f"{last['step']:,} steps, {last['tokens']:,} tokens, {last.get('elapsed_s', 0) / 60:.1f} minutes. "
            f"Best validation loss {best['val_loss']:.4f} nats per token at step {best['step']:,}: "
            "those are the weights in model.safetensors."
        )
    if log:
        lines += ["", f"![training and validation loss]({plot.name})", ""]
    else:
        lines += ["No training log (log.jsonl) in the model directory.", ""]
    mb = lambda n: f"{n / 1e6:.2f} MB"  # noqa: E731
    lines += [
        "## Cost",
        "",
        "| | |",
        "|---|---:|",
        f"| parameters | {info.parameters:,} ({info.parameters_non_embedding:,} without embeddings) |",
        f"| weights on disk (fp32) | {mb(info.file_bytes)} |",
        f"| weights at int8 | {mb(info.int8_weight_bytes)} |",
        f"| forward pass, 128 tokens | {info.forward_flops_128 / 1e9:.3f} GFLOP ({info.forward_macs_128 / 1e9:.3f} G multiply-adds) |",
        f"| memory to serve, batch 1 (estimate) | {mb(info.inference_memory_bytes)} |",
        f"| context window | {cfg.max_seq_len} tokens |",
        "",
        "## How the samples were made",
        "",
        f"Story openings: `<|begin|>` + prompt, temperature {PROSE_DECODING.temperature}, top-k {PROSE_DECODING.top_k}, "
        f"{PROSE_DECODING.min_new_tokens}–{PROSE_DECODING.max_new_tokens} new tokens. Chat: the message as the first user "
        f"turn, temperature {CHAT_DECODING.temperature}, top-k {CHAT_DECODING.top_k}, at most "
        f"{CHAT_DECODING.max_new_tokens} new tokens (and at most half the window), seed × 100 + the message's index. "
        f"Seeds {', '.join(map(str, seeds))}. "
        "Same model, same report: rerun `pahat report` after training more to compare.",
        "",
    ]
    figures = {
        "samples": [s.__dict__ for s in samples],
        "generated": generated.to_json(),
        "training_corpus": reference.to_json() if reference else None,
        "held_out": held_out.to_json() if held_out else None,
        "info": info.to_json(),
    }
    return "\n".join(lines), figures


def write_report(run_dir: str | Path, out: str | Path | None = None, data_dir: str | Path | None = None) -> tuple[Path, dict]:
    """Build the report and write it atomically (default RUN_DIR/report.md); returns its path and figures."""
    out = Path(out) if out is not None else Path(run_dir) / "report.md"
    if out.suffix.lower() != ".md":
        raise PahatError(f"--out {out} should end in .md; the report is Markdown")
    check_writable(out)  # before a minute of sampling and scoring, not after
    try:
        text, figures = build_report(run_dir, out, data_dir)
        atomic_write_text(out, text)
    except OSError as err:
        raise PahatError(f"cannot write {out} ({err.strerror or err}); choose another --out") from None
    return out, figures


def check_writable(out: Path) -> None:
    """A PahatError unless a file can be created at out (its folder is made if missing)."""
    if out.is_dir():
        raise PahatError(f"--out {out} is a folder; give a file name such as {out / 'report.md'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".probe"):
            pass
    except OSError as err:
        raise PahatError(f"cannot write {out} ({err.strerror or err}); choose another --out") from None
