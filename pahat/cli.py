"""The `pahat` command: one subcommand per job, each a thin layer over a module.

    pahat corpus check corpus/ --json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

from pahat import __version__
from pahat.corpus import CorpusError, Thresholds, check_corpus, format_report


def _fraction(text: str) -> float:
    """argparse type: a number between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a fraction such as 0.97") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..1; give a fraction such as 0.97")
    return value


def _count(text: str) -> int:
    """argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give 0 or more")
    return value


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pahat", description="A tiny Indonesian language model, trained on your own prose.")
    parser.add_argument("--version", action="version", version=f"pahat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_corpus(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CorpusError as err:
        print(f"pahat: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `pahat ... | head` is fine
        return 0
