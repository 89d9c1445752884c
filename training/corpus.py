"""Reading labelled corpora: JSON lines, every line validated, errors that name file and line."""

from __future__ import annotations

import glob
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common.items import ItemError, parse_item
from model import LABELS, compose


class CorpusError(ValueError):
    """A corpus line that cannot be used; the message names the file and line number."""


@dataclass(frozen=True)
class Example:
    """One labelled item of a corpus."""

    id: str
    title: str
    text: str
    labels: tuple[str, ...]
    origin: str  # "written" for the team's own items, else the corpus file's stem
    path: str
    line: int

    @property
    def written(self) -> bool:
        """True for items the team wrote itself (never in an evaluation split)."""
        return self.origin == "written"

    @property
    def document(self) -> str:
        """The text the model sees."""
        return compose(self.title, self.text)


@dataclass
class Corpus:
    """Examples from one or more files, with per-file hashes and counts for the card."""

    examples: list[Example] = field(default_factory=list)
    files: dict[str, dict[str, object]] = field(default_factory=dict)
    duplicates_dropped: int = 0


def expand(patterns: Iterable[str]) -> list[Path]:
    """Expand ``--data`` arguments (paths or globs) into a sorted, de-duplicated file list."""
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise CorpusError(f"{pattern}: no file matches")
        for match in matches:
            path = Path(match)
            if not path.is_file():
                raise CorpusError(f"{path}: no such file")
            if path not in paths:
                paths.append(path)
    return paths


def parse_line(raw: str, path: Path, number: int) -> Example:
    """Validate one JSON line and return its example, or raise :class:`CorpusError`."""
    where = f"{path}:{number}"
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: invalid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: a line must be a JSON object")
    try:
        item = parse_item(obj)
    except ItemError as exc:
        raise CorpusError(f"{where}: {exc.message}") from None
    item_id, title, text = item.id, item.title or "", item.body
    if item_id is None or not item_id.strip():
        raise CorpusError(f'{where}: missing or empty "id"')
    labels = obj.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise CorpusError(f'{where}: "labels" must be a list of strings')
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise CorpusError(f"{where}: unknown label(s) {unknown}; known: {list(LABELS)}")
    origin = "written" if obj.get("source") == "written" else path.stem
    ordered = tuple(label for label in LABELS if label in labels)
    return Example(item_id, title.strip(), text.strip(), ordered, origin, str(path), number)


def _text_key(example: Example) -> str:
    normal = " ".join(example.document.lower().split())
    return hashlib.sha256(normal.encode()).hexdigest()


def load(patterns: Sequence[str]) -> Corpus:
    """Read every file; raise on the first bad line; count identical texts once."""
    corpus = Corpus()
    seen_ids: dict[str, str] = {}
    seen_texts: set[str] = set()
    for path in expand(patterns):
        data = path.read_bytes()
        counts: Counter[str] = Counter()
        origins: Counter[str] = Counter()
        for number, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
            if not raw.strip():
                continue
            example = parse_line(raw, path, number)
            if example.id in seen_ids:
                first = seen_ids[example.id]
                raise CorpusError(f"{path}:{number}: duplicate id {example.id!r} (see {first})")
            seen_ids[example.id] = f"{path}:{number}"
            key = _text_key(example)
            if key in seen_texts:
                corpus.duplicates_dropped += 1
                continue
            seen_texts.add(key)
            corpus.examples.append(example)
            counts.update(example.labels or ("none",))
            origins["written" if example.written else "real"] += 1
        corpus.files[str(path)] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "items": sum(origins.values()),
            "origin": dict(origins),
            "labels": {label: counts[label] for label in (*LABELS, "none")},
        }
    if not corpus.examples:
        raise CorpusError("the corpus holds no items")
    return corpus
