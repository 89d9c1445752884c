"""Command line: ``python -m training train|evaluate|export-corrections``.

    python -m training train --data '../shared/data/*.jsonl' --exclude seed_articles \\
        --data 'training/data/*.jsonl' --check ../shared/data/seed_articles.jsonl --out model/
    python -m training evaluate --data ../shared/data/seed_articles.jsonl [--model DIR] [--json]
    python -m training export-corrections --out data/corrections.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import cli
from training import text
from training import train as train_mod
from training.corpus import CorpusError
from training.progress import Progress


def _progress(message: str) -> None:
    print(f"[training] {message}", file=sys.stderr, flush=True)


DESCRIPTION = """\
Trains the model and measures it.  "train" reads labelled JSON lines ({"id", "title",
"text", "labels"}), cross-validates, tunes one threshold per label and writes the artifact
and its card; "evaluate" scores a saved model on labelled JSON lines; "export-corrections"
writes the items analysts corrected in the workspace as such lines, for "train"."""

EXAMPLES = """\
examples (make train and make evaluate run these):
  python -m training train --data '../shared/data/*.jsonl' --exclude seed_articles \\
      --data 'training/data/*.jsonl' --check ../shared/data/seed_articles.jsonl --out model
  python -m training evaluate --data ../shared/data/seed_articles.jsonl --json
  python -m training export-corrections --out data/corrections.jsonl"""


REPEATABLE_DATA = "a JSONL file or a quoted glob of them; repeatable"


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m training", DESCRIPTION, EXAMPLES)
    sub = cli.commands(parser, dest="command", required=True)
    _train_arguments(
        cli.command(sub, "train", "fit the model, cross-validate it, write artifact + card")
    )
    evaluate = cli.command(sub, "evaluate", "score a saved model on a labelled JSONL file")
    evaluate.add_argument(
        "--data", action="append", required=True, metavar="PATH", help=REPEATABLE_DATA
    )
    evaluate.add_argument(
        "--model", default=None, metavar="DIR", help="model directory (default: the shipped model)"
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    export = cli.command(
        sub, "export-corrections", "write analysts' corrected items as a training corpus"
    )
    export.add_argument(
        "--out", required=True, metavar="PATH", help="JSONL file to write (replaced whole)"
    )
    return parser


def _train_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--data", action="append", required=True, metavar="PATH", help=REPEATABLE_DATA
    )
    train.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="TEXT",
        help="drop files whose name contains TEXT (e.g. seed_articles); repeatable",
    )
    train.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="PATH",
        help="held-out JSONL scored with the final model and recorded on the card; repeatable",
    )
    train.add_argument(
        "--out", default="model", metavar="DIR", help="directory for wiretag.joblib and card.json"
    )
    train.add_argument(
        "--folds", type=int, default=5, metavar="N", help="outer cross-validation folds"
    )
    train.add_argument(
        "--inner-folds", type=int, default=5, metavar="N", help="inner folds for tuning"
    )
    train.add_argument(
        "--report",
        action="store_true",
        help="also write report.md and its plots beside the model (needs matplotlib: "
        "pip install -e '.[train]', as make train does)",
    )


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
                Progress(enabled=True),
                report=args.report,
            )
            print(text.format_card(card))
        elif args.command == "export-corrections":
            return _export(args.out)
        else:
            report = train_mod.evaluate(args.data, args.model)
            print(json.dumps(report, indent=2) if args.json else text.format_report(report))
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _export(out: str) -> int:
    """Export from the store the settings name (WIRETAG_DATABASE_URL or the data dir)."""
    from settings import SettingsError, from_env
    from store import StoreError, open_store
    from training.corrections import export_corrections

    try:
        store = open_store(from_env().sqlalchemy_url)
    except (SettingsError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        written = export_corrections(store, Path(out), _progress)
    finally:
        store.close()
    _progress(f"{written} corrected items written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
