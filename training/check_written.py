"""Check the team-written corpora: format, labels, ids, and originality against ../shared/data.

Run from the repository root: ``python -m training.check_written [FILE ...]``.
With no arguments it checks every ``training/data/written_*.jsonl``. Exit status 1 on any error.

Originality means no sentence (normalised: lower case, punctuation dropped) and no run of
eight words is shared with any title or text in ``../shared/data/*.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from common import cli
from common.items import ItemError, parse_item
from common.labels import LABELS

HERE = Path(__file__).resolve().parent / "data"
SHARED = HERE.parents[1].parent / "shared" / "data"
NGRAM = 8
# RSS-size items are a headline and one or two sentences; articles several paragraphs.
ARTICLE_MIN_CHARS = 1000


def sentences(text: str) -> list[str]:
    """Split text into normalised sentences (lower case, punctuation dropped)."""
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [re.sub(r"\W+", " ", p).strip().lower() for p in parts if p.strip()]


def ngrams(text: str, n: int = NGRAM) -> set[str]:
    """Return the set of n-word runs of the normalised text."""
    words = re.sub(r"\W+", " ", text).lower().split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def shared_index() -> tuple[set[str], set[str]]:
    """Sentences (longer than 20 chars) and n-grams of every shared corpus title and text."""
    sents: set[str] = set()
    grams: set[str] = set()
    for path in sorted(SHARED.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            for field in ("title", "text"):
                value = item.get(field) or ""
                sents.update(s for s in sentences(value) if len(s) > 20)
                grams |= ngrams(value)
    return sents, grams


def check_item(item: dict[str, object], where: str, sents: set[str], grams: set[str]) -> list[str]:
    """Return the problems found in one item (empty list when it is fine)."""
    problems: list[str] = []
    labels = item.get("labels")
    if not isinstance(labels, list) or not set(labels) <= set(LABELS):
        problems.append(f"{where}: labels must be a list drawn from {list(LABELS)}")
    try:
        parsed = parse_item(item)
    except ItemError as exc:
        problems.append(f"{where}: {exc.message}")
        return problems
    title, text = parsed.title or "", parsed.body
    # an empty title is allowed: incident lists, like the shared incident file, have none
    for value in (title, text):
        if not value.strip():
            continue
        problems += [
            f"{where}: sentence found in shared data: {s!r}" for s in sentences(value) if s in sents
        ]
        common = ngrams(value) & grams
        if common:
            problems.append(
                f"{where}: {NGRAM}-word run found in shared data: {sorted(common)[0]!r}"
            )
    if item.get("source") != "written":
        problems.append(f"{where}: source must be 'written'")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(item.get("date", ""))):
        problems.append(f"{where}: date must be YYYY-MM-DD")
    return problems


DESCRIPTION = """\
Checks the items the team wrote (training/data/written_*.jsonl): their format, labels and
ids, and that none shares a sentence or a run of 8 words with a title or text in
../shared/data/*.jsonl.  Prints each problem and a count per label; exit status 1 on any
problem."""


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m training.check_written", DESCRIPTION)
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="JSONL files to check (default: every training/data/written_*.jsonl)",
    )
    return parser


def main(argv: list[str]) -> int:
    """Check the given files (default: all written corpora) and print a summary."""
    args = _parser().parse_args(argv)
    files = list(args.files) or sorted(HERE.glob("written_*.jsonl"))
    if not SHARED.is_dir():
        print(f"needs {SHARED} for the originality check", file=sys.stderr)
        return 1
    sents, grams = shared_index()
    seen: set[str] = set()
    problems: list[str] = []
    counts: Counter[tuple[str, str]] = Counter()
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.name}:{number}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: invalid JSON ({exc})")
                continue
            if item.get("id") in seen:
                problems.append(f"{where}: duplicate id {item.get('id')!r}")
            seen.add(item.get("id"))
            problems += check_item(item, where, sents, grams)
            shape = "article" if len(str(item.get("text", ""))) >= ARTICLE_MIN_CHARS else "rss"
            for label in item.get("labels") or ["none"]:
                counts[(label, shape)] += 1
    for problem in problems:
        print(problem)
    print(f"{len(seen)} items, {len(problems)} problems")
    for label in [*LABELS, "none"]:
        print(
            f"  {label:20s} rss={counts[(label, 'rss')]:4d} article={counts[(label, 'article')]:4d}"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
