"""``python -m model classify [--model DIR] < items.jsonl > out.jsonl``

Input: one JSON object per line, an item as the HTTP service takes it: ``{"id", "title",
"text"}`` (``"summary"`` is accepted for ``"text"``; see ``common/items.py``).  Output: one line per good input line, ``{"id", "labels", "scores", "evidence"}``.
A bad line is reported on stderr with its line number; the good lines are still written,
and the exit status is 1 if any line was bad (2 if the model cannot be loaded).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import IO

from common import cli
from common.items import ItemError
from common.items import parse_item as parse_shape
from model import Item, ModelError, load

BATCH = 256


class LineError(ValueError):
    """One input line that cannot be classified."""


def parse_item(raw: str) -> Item:
    """Turn one JSON line into an :class:`Item`, or raise :class:`LineError`."""
    try:
        item = parse_shape(raw)
    except ItemError as exc:
        raise LineError(exc.message) from None
    return Item(item.id, item.title or "", item.body)


def _batches(lines: IO[str], errors: IO[str]) -> Iterator[tuple[list[Item], int]]:
    """Good items in batches, reporting bad lines as they are met; yields (batch, bad count)."""
    batch: list[Item] = []
    bad = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            batch.append(parse_item(raw))
        except LineError as exc:
            bad += 1
            print(f"line {number}: {exc}", file=errors)
        if len(batch) >= BATCH:
            yield batch, bad
            batch, bad = [], 0
    yield batch, bad


def classify_stream(model_dir: str | None, lines: IO[str], out: IO[str], errors: IO[str]) -> int:
    """Classify every good line of ``lines`` into ``out``; return the exit status."""
    try:
        model = load(model_dir)
    except ModelError as exc:
        print(f"error: {exc}", file=errors)
        return 2
    failed = 0
    for batch, bad in _batches(lines, errors):
        failed += bad
        for result in model.classify(batch) if batch else []:
            out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    return 1 if failed else 0


DESCRIPTION = """\
Tags news items with the model, from the command line.  "classify" reads one JSON object
per line on standard input, an item as the HTTP service takes it: {"id", "title", "text"}
("summary" is accepted for "text").  It writes one line per good input line to standard
output: {"id", "labels", "scores", "evidence"}.  A bad line is reported on standard error
with its line number and the good lines are still written; the exit status is 1 if any
line was bad, 2 if the model cannot be loaded."""

EXAMPLE = """\
example:
  echo '{"id": "a", "title": "Suicide bomber kills 12 in Baghdad", "text": "A car bomb hit a market."}' \\
    | python -m model classify"""


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m model", DESCRIPTION, EXAMPLE)
    sub = cli.commands(parser, dest="command", required=True)
    classify = cli.command(sub, "classify", "classify JSON lines from stdin to stdout", DESCRIPTION)
    classify.add_argument(
        "--model",
        metavar="DIR",
        default=None,
        help="directory holding wiretag.joblib and card.json (default: the shipped model)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m model``."""
    args = _parser().parse_args(argv)
    return classify_stream(args.model, sys.stdin, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
