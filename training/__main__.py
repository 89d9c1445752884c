"""Command line: ``python -m training train|evaluate``.

    python -m training train --data '../shared/data/*.jsonl' --exclude seed_articles \\
        --data 'training/data/*.jsonl' --check ../shared/data/seed_articles.jsonl --out model/
    python -m training evaluate --data ../shared/data/seed_articles.jsonl [--model DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

from training import train as train_mod
from training.corpus import CorpusError


def _progress(message: str) -> None:
    print(f"[training] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="fit the model, cross-validate it, write artifact + card")
    train.add_argument(
        "--data", action="append", required=True, help="JSONL file or glob; repeatable"
    )
    train.add_argument(
        "--exclude",
        action="append",
        default=[],
        help="drop files whose name contains this (e.g. seed_articles); repeatable",
    )
    train.add_argument(
        "--check",
        action="append",
        default=[],
        help="held-out JSONL scored with the final model and recorded on the card",
    )
    train.add_argument("--out", default="model", help="directory for wiretag.joblib and card.json")
    train.add_argument("--folds", type=int, default=5, help="outer cross-validation folds")
    train.add_argument("--inner-folds", type=int, default=5, help="inner folds for tuning")
    evaluate = sub.add_parser("evaluate", help="score a saved model on a labelled JSONL file")
    evaluate.add_argument("--data", action="append", required=True, help="JSONL file or glob")
    evaluate.add_argument("--model", default=None, help="model directory (default: shipped)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a training command; exit status 2 for bad input, 0 on success."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            card = train_mod.train(
                args.data,
                args.exclude,
                args.check,
                args.out,
                args.folds,
                args.inner_folds,
                _progress,
            )
            print(train_mod.format_card(card))
        else:
            report = train_mod.evaluate(args.data, args.model)
            print(json.dumps(report, indent=2) if args.json else train_mod.format_report(report))
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
