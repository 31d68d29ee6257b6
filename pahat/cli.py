"""The `pahat` command: one subcommand per job, each a thin layer over a module.

    pahat corpus check corpus/ --json
    pahat prepare --corpus corpus/ --out data/
    pahat train --data data/ --out runs/demo --time-limit 9
    pahat info --model runs/demo --json
    pahat generate --model runs/demo --prompt "Pagi itu aku" --temperature 0.8 --top-k 50 --stream
    pahat chat --model runs/demo
    pahat eval --model runs/demo --split val
    pahat report --model runs/demo
    pahat bobot "Aku merasa sangat senang." --bobot-awal 0.1
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from typing import Literal, get_args, get_origin, get_type_hints

from pahat import __version__
from pahat.corpus import Thresholds, check_corpus, format_report
from pahat.errors import PahatError
from pahat.prepare import MIN_DEDUPE_WORDS


def _number(text: str, kind: type, what: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _fraction(text: str) -> float:
    """argparse type: a number between 0 and 1."""
    value = _number(text, float, "a number; give a fraction such as 0.97")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..1; give a fraction such as 0.97")
    return value


def _count(text: str) -> int:
    """argparse type: a whole number >= 0."""
    value = _number(text, int, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give 0 or more")
    return value


def _positive(text: str) -> int:
    """argparse type: a whole number >= 1."""
    value = _number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 or more")
    return value


def _non_negative_float(text: str) -> float:
    """argparse type: a number >= 0."""
    value = _number(text, float, "a number")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give 0 or more")
    return value


def _add_settings(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One --kebab-case flag per field of a settings dataclass, default None (= not given)."""
    group = parser.add_argument_group(f"{cls.__name__} settings (saved in the model directory)")
    hints = get_type_hints(cls)  # the annotations are strings (postponed evaluation)
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        helptext = f"{f.metadata['help']} (default: {default})"
        choices = get_args(hints[f.name]) if get_origin(hints[f.name]) is Literal else None
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        elif choices:
            group.add_argument(flag, choices=choices, default=None, help=helptext)
        elif isinstance(default, int):
            group.add_argument(flag, type=_count, default=None, metavar="N", help=helptext)
        elif isinstance(default, float):
            group.add_argument(flag, type=_non_negative_float, default=None, metavar="X", help=helptext)
        else:
            group.add_argument(flag, default=None, metavar="VALUE", help=helptext)


def _model_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="RUN_DIR", help="model directory written by `pahat train`")


def _data_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="DATA_DIR", help="the prepared data the model was trained on, if it moved (default: as recorded in RUN_DIR)")


def _add_corpus(sub: argparse._SubParsersAction) -> None:
    corpus = sub.add_parser("corpus", help="inspect a corpus folder")
    csub = corpus.add_subparsers(dest="corpus_command", required=True, metavar="COMMAND")
    check = csub.add_parser(
        "check",
        help="measure a corpus folder against the quality gate; exits 1 if a threshold fails",
        description="Reads prose (.txt/.md: title on line 1, blank lines between paragraphs) and "
        'conversations (.jsonl: one {"turns": [...]} per line) under DIR and prints, per part and in '
        "total: size, names, aku-kamu share, slang, colloquial negation, lexicon coverage and duplication.",
    )
    check.add_argument("dir", metavar="DIR", help="corpus folder to check (searched recursively)")
    check.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    defaults = Thresholds()
    for f in fields(Thresholds):
        kind = _count if isinstance(getattr(defaults, f.name), int) else _fraction
        flag = "--" + f.name.replace("_", "-")
        check.add_argument(
            flag, type=kind, default=getattr(defaults, f.name), metavar="N", help=f.metadata["help"] + " (default: %(default)s)"
        )
    check.set_defaults(func=_run_corpus_check)


def _run_corpus_check(args: argparse.Namespace) -> int:
    thresholds = Thresholds(**{f.name: getattr(args, f.name) for f in fields(Thresholds)})
    report = check_corpus(args.dir, thresholds)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    return 0 if report.ok else 1


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="clean and split a corpus, train the tokenizer, write token ids",
        description="Reads DIR like `pahat corpus check`, drops exact duplicates, splits train/validation by whole "
        "document, trains a byte-level BPE tokenizer on the training split and writes tokenizer.json, train.bin, "
        "val.bin (uint16 token ids) and prepare.json to DATA_DIR.",
    )
    p.add_argument("--corpus", required=True, metavar="DIR", help="corpus folder (.txt/.md stories, .jsonl conversations)")
    p.add_argument("--out", required=True, metavar="DATA_DIR", help="folder to write the prepared data to")
    p.add_argument("--vocab-size", type=_positive, default=10000, metavar="N", help="tokenizer vocabulary, special tokens included (default: %(default)s, the seed's)")
    p.add_argument("--val-fraction", type=_fraction, default=0.05, metavar="X", help="share of documents kept for validation, per part (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/validation split (default: %(default)s)")
    p.add_argument(
        "--dedupe-min-words", type=_count, default=MIN_DEDUPE_WORDS, metavar="N",
        help="a story paragraph that repeats an earlier one exactly is dropped if it has N words or more; shorter "
        "lines such as a bare reply or a scene break may recur; 0 drops every repeat (default: %(default)s)",
    )  # fmt: skip
    p.set_defaults(func=_run_prepare)


def _run_prepare(args: argparse.Namespace) -> int:
    from pahat.prepare import format_prepare_report, prepare

    report = prepare(args.corpus, args.out, args.vocab_size, args.val_fraction, args.seed, dedupe_min_words=args.dedupe_min_words)
    print(format_prepare_report(report))
    print(f"wrote {args.out}/tokenizer.json, train.bin, val.bin, prepare.json")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    from pahat.config import ModelConfig, TrainConfig

    p = sub.add_parser(
        "train",
        help="train a model on prepared data",
        description="Trains the seed's model with AdamW, warmup + cosine decay, gradient clipping, periodic validation "
        "and early stopping. RUN_DIR becomes a model directory: config.json, model.safetensors (best weights), "
        "tokenizer.json, checkpoint.safetensors (for --resume), log.jsonl and loss.png. Settings come from the "
        "defaults, then --config FILE, then the flags.",
    )
    p.add_argument("--data", metavar="DATA_DIR", help="folder written by `pahat prepare` (not needed with --resume)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="model directory to create (or to continue with --resume)")
    p.add_argument("--config", metavar="FILE", help="JSON object of settings (keys as the flags, with underscores)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_settings(p, ModelConfig, skip=("vocab_size",))
    _add_settings(p, TrainConfig)
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from pahat.config import ModelConfig, TrainConfig
    from pahat.train import split_config_file, train

    model_over = {f.name: getattr(args, f.name, None) for f in fields(ModelConfig)}
    train_over = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    if args.config:
        file_model, file_train = split_config_file(args.config)
        model_over = {**file_model, **{k: v for k, v in model_over.items() if v is not None}}
        train_over = {**file_train, **{k: v for k, v in train_over.items() if v is not None}}
    if not args.resume and not args.data:
        raise PahatError("--data is required for a new run; give the folder written by `pahat prepare`")
    train(args.data, args.out, model_over, train_over, resume=args.resume, progress=False if args.quiet else None)
    return 0


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="parameters, size on disk, FLOPs and memory of a model")
    _model_flag(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from pahat.checkpoint import read_model_config
    from pahat.info import format_info, model_info

    info = model_info(args.model)
    if args.json:
        print(json.dumps(info.to_json(), indent=2))
    else:
        print(format_info(info, read_model_config(args.model)))
    return 0


def _probability(text: str) -> float:
    """argparse type for --top-p: a number in (0, 1]."""
    value = _number(text, float, "a number")
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, 1]; 1 turns top-p off, 0.9 keeps the likeliest 90%")
    return value


def _add_decoding(p: argparse.ArgumentParser, beams: bool) -> None:
    """The decoding flags, named as in HF generate; value checks live in GenerationConfig."""
    g = p.add_argument_group("decoding")
    g.add_argument("--max-new-tokens", type=int, default=100, metavar="N", help="most tokens to add (default: %(default)s)")
    g.add_argument("--min-new-tokens", type=int, default=0, metavar="N", help="no stop before N new tokens (default: %(default)s)")
    g.add_argument("--temperature", type=float, default=0.8, metavar="T", help="0 is greedy; higher is more varied (default: %(default)s)")
    g.add_argument("--top-k", type=int, default=50, metavar="K", help="sample among the K likeliest tokens; 0 = all (default: %(default)s)")
    g.add_argument("--top-p", type=_probability, default=1.0, metavar="P", help="nucleus: the likeliest tokens that make up P of the probability; 1 = off (default: %(default)s)")
    g.add_argument("--min-p", type=float, default=0.0, metavar="P", help="drop tokens less likely than P x the likeliest; 0 = off (default: %(default)s)")
    g.add_argument("--repetition-penalty", type=float, default=1.0, metavar="X", help="> 1 makes tokens already in the text less likely (HF semantics); 1 = off (default: %(default)s)")
    g.add_argument("--no-repeat-ngram-size", type=int, default=0, metavar="N", help="never repeat an N-token sequence; 0 = off (default: %(default)s)")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop before this text; may be given several times")
    g.add_argument("--seed", type=int, default=None, help="makes sampling reproducible")
    g.add_argument("--no-cache", action="store_true", help="recompute the whole window for every token (slow; for checking the KV cache)")
    g.add_argument(
        "--backend", choices=("numpy", "torch"), default="numpy",
        help="numpy: the NumPy runtime, about twice as fast on a CPU; torch: the training model (default: %(default)s)",
    )  # fmt: skip
    if beams:
        g.add_argument("--num-beams", type=int, default=1, metavar="N", help="beam search with N beams; 1 = sampling or greedy (default: %(default)s)")
        g.add_argument("--length-penalty", type=float, default=1.0, metavar="X", help="beam score = log-prob / length^X; > 1 favours longer texts (default: %(default)s)")
        g.add_argument("--early-stopping", action="store_true", help="beam search ends as soon as N finished hypotheses exist")
        g.add_argument("--num-return-sequences", type=int, default=1, metavar="N", help="texts per prompt (default: %(default)s)")


def _generation_config(args: argparse.Namespace):
    from pahat.generate import GenerationConfig

    return GenerationConfig(
        max_new_tokens=args.max_new_tokens,
        min_new_tokens=args.min_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        repetition_penalty=args.repetition_penalty,
        no_repeat_ngram_size=args.no_repeat_ngram_size,
        num_beams=getattr(args, "num_beams", 1),
        length_penalty=getattr(args, "length_penalty", 1.0),
        early_stopping=getattr(args, "early_stopping", False),
        num_return_sequences=getattr(args, "num_return_sequences", 1),
        stop=tuple(args.stop),
        seed=args.seed,
        use_cache=not args.no_cache,
    )


def _load_for_decoding(args: argparse.Namespace):
    from pahat.checkpoint import load_model
    from pahat.generate import numpy_backend

    model, tok = load_model(args.model)  # checks the whole directory, whichever backend runs
    return (numpy_backend(model) if args.backend == "numpy" else model), tok


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="continue a prompt with a trained model",
        description="Continues each --prompt as a story (after <|begin|>, chat-turn markers suppressed). Greedy at "
        "--temperature 0, else sampling; --num-beams N for beam search. Several --prompt values run as one padded "
        "batch (beam search takes them one at a time).",
    )
    _model_flag(p)
    p.add_argument("--prompt", required=True, action="append", metavar="TEXT", help="the opening to continue; repeat for a batch")
    p.add_argument("--stream", action="store_true", help="print the text as it is generated (one prompt, no beams)")
    _add_decoding(p, beams=True)
    p.set_defaults(func=_run_generate)


def _run_generate(args: argparse.Namespace) -> int:
    from pahat.generate import check_streamable, generate, stream

    cfg = _generation_config(args)  # bad values fail here, before the model loads
    if any(not p.strip() for p in args.prompt):
        raise PahatError("the prompt is empty; give a few words to continue, e.g. --prompt 'Pagi itu aku'")
    if args.stream and len(args.prompt) > 1:
        raise PahatError("--stream prints one text as it grows; give one --prompt")
    if args.stream:
        check_streamable(cfg)
    model, tok = _load_for_decoding(args)
    if args.stream:
        print(args.prompt[0], end="", flush=True)
        for piece in stream(model, tok, args.prompt[0], cfg):
            print(piece, end="", flush=True)
        print()
        return 0
    results = generate(model, tok, args.prompt, cfg)
    several = len(args.prompt) > 1 or cfg.num_return_sequences > 1
    for prompt, texts in zip(args.prompt, results):
        for i, text in enumerate(texts):
            if several:
                print(f"--- {prompt!r}" + (f" #{i + 1}" if cfg.num_return_sequences > 1 else ""))
            print(prompt + text)
    return 0


def _add_chat(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "chat",
        help="talk with a trained model (interactive, or one message per stdin line)",
        description="Each message goes after <|user|>, the model answers after <|assistant|>, streamed. The oldest "
        "exchanges are dropped when the conversation outgrows the window. Commands: /reset, /exit, /help. With "
        "stdin piped, each line is a message and each reply is one line on stdout.",
    )
    _model_flag(p)
    _add_decoding(p, beams=False)
    p.set_defaults(func=_run_chat)


def _run_chat(args: argparse.Namespace) -> int:
    from pahat.chat import ChatSession, run_chat

    cfg = _generation_config(args)
    model, tok = _load_for_decoding(args)
    return run_chat(ChatSession(model, tok, cfg), sys.stdin, sys.stdout, interactive=sys.stdin.isatty())


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="bits per character of a model on text, beside n-gram and xz baselines",
        description="Scores the text in the model's format with a sliding window and prints tokens, characters, "
        "perplexity and bits per character (total loss in bits / characters of the text, special tokens not "
        "counted). Beside it: a Kneser-Ney n-gram model over the same tokens and xz -9e given the training text, "
        "both trained on the training split of the data the model was trained on.",
    )
    _model_flag(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", metavar="PATH", help="a corpus file or folder (.txt/.md stories, .jsonl conversations)")
    what.add_argument("--split", choices=("val", "train"), help="a split of the model's own prepared data; val is held out")
    p.add_argument("--stride", type=_positive, metavar="N", help="tokens between window starts; each later window scores its last N tokens (default: half the window)")
    from pahat.ngram import BASELINE_ORDERS, DEFAULT_BASELINE_ORDER  # NumPy only, no torch

    p.add_argument("--ngram-order", type=int, default=DEFAULT_BASELINE_ORDER, choices=BASELINE_ORDERS, metavar="N", help="order of the Kneser-Ney baseline, 3 to 5 (default: %(default)s)")
    p.add_argument("--no-baselines", action="store_true", help="score the model only")
    _data_flag(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from pahat.score import evaluate_model, format_eval

    result = evaluate_model(
        args.model, args.text, args.split, args.stride, args.ngram_order, not args.no_baselines, args.data,
        progress=sys.stderr.isatty() and not args.json,
    )  # fmt: skip
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=2) if args.json else format_eval(result))
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a Markdown report of a model: samples, style figures, bits per character, cost, loss plot",
        description="Generates from fixed Indonesian prompts with fixed seeds, measures the samples (aku-kamu share, "
        "lexicon coverage, distinct-1/2, repeated 4-grams, sentence length) beside the training corpus, scores the "
        "validation split against the baselines of `pahat eval`, and writes it all with `pahat info`'s figures and "
        "the loss plot to one Markdown file (the plot as a PNG beside it).",
    )
    _model_flag(p)
    p.add_argument("--out", metavar="FILE.md", help="where to write the report (default: RUN_DIR/report.md)")
    _data_flag(p)
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    p.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from pahat.report import write_report

    out, figures = write_report(args.model, args.out, args.data)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    print(f"wrote {out}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _add_bobot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bobot",
        help="the seed's word-weight formula: bobot akhir of every word, sentence by sentence",
        description="Bobot Akhir_kata = (Bobot Awal x Indeks Kata) + Total Kata Dalam Kalimat, with the word's "
        "1-based index in its sentence. Sentences end at . ! ? ... and line breaks; anak-anak is one word.",
    )
    p.add_argument("text", metavar="TEXT", help='the text, e.g. "Aku merasa sangat senang."')
    p.add_argument("--bobot-awal", type=lambda t: _number(t, float, "a number such as 0.1"), default=0.1, metavar="X", help="the starting weight of every word (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run_bobot)


def _run_bobot(args: argparse.Namespace) -> int:
    from pahat.bobot import format_weights, weights_json, word_weights

    sentences = word_weights(args.text, args.bobot_awal)
    if args.json:
        print(json.dumps(weights_json(sentences, args.bobot_awal), ensure_ascii=False, indent=2))
    else:
        print(format_weights(sentences, args.bobot_awal))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pahat", description="A tiny Indonesian language model, trained on your own prose.")
    parser.add_argument("--version", action="version", version=f"pahat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_corpus(sub)
    _add_prepare(sub)
    _add_train(sub)
    _add_info(sub)
    _add_generate(sub)
    _add_chat(sub)
    _add_eval(sub)
    _add_report(sub)
    _add_bobot(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PahatError as err:
        print(f"pahat: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `pahat ... | head` is fine
        return 0
    except KeyboardInterrupt:  # Ctrl-C in chat or a stream: stop quietly (training saves its own state)
        print(file=sys.stderr)
        return 130
