"""Where a text's words meet the model's evidence: for highlighting it on a page.

The model's features are stems ("recaptured" and "recapturing" are one feature), and its
evidence names each feature by a readable word (:meth:`StemmingTokenizer.shown`). To
mark every occurrence of a term in a text, word forms included, each word of the text is
put through the vectoriser's own preprocessing and tokenizer, with its position kept.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from model.artifact import Model
from model.inference import strip_accents
from model.tokens import StemmingTokenizer

Segment = tuple[str, tuple[str, ...]]  # a run of text and the labels it is evidence for

_terms_by_name: weakref.WeakKeyDictionary[Model, dict[str, list[tuple[str, ...]]]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


@dataclass(frozen=True)
class Word:
    """A token of a text: where it is, and the stem the model knows it by (None for a
    stop word, which the model skips)."""

    start: int
    end: int
    stem: str | None


def words(m: Model, text: str) -> list[Word]:
    """The text's tokens as the model's vectoriser finds them, with their positions."""
    vectorizer = m.pipeline.named_steps["tfidf"]
    tokenizer = vectorizer.tokenizer
    stemming = isinstance(tokenizer, StemmingTokenizer)
    pattern = tokenizer.token_pattern if stemming else vectorizer.token_pattern
    stop = tokenizer.stop if stemming else frozenset(vectorizer.get_stop_words() or ())
    found = []
    for match in re.finditer(pattern, text):
        word = match.group().lower() if vectorizer.lowercase else match.group()
        if vectorizer.strip_accents == "unicode":
            word = strip_accents(word)
        stem = None if word in stop else (tokenizer.stems[word] if stemming else word)
        found.append(Word(match.start(), match.end(), stem))
    return found


def terms_named(m: Model, name: str) -> list[tuple[str, ...]]:
    """The vocabulary terms (as tuples of stems) that the evidence calls ``name``."""
    with _lock:
        table = _terms_by_name.get(m)
        if table is None:
            table = _name_table(m)
            _terms_by_name[m] = table
    return table.get(name, [])


def _name_table(m: Model) -> dict[str, list[tuple[str, ...]]]:
    vectorizer = m.pipeline.named_steps["tfidf"]
    tokenizer = vectorizer.tokenizer
    show = tokenizer.shown if isinstance(tokenizer, StemmingTokenizer) else str
    table: dict[str, list[tuple[str, ...]]] = {}
    for term in vectorizer.vocabulary_:
        table.setdefault(show(term), []).append(tuple(term.split(" ")))
    return table


def marks(m: Model, text: str, evidence: Mapping[str, Iterable[str]]) -> list[Segment]:
    """``text`` cut into runs, each with the labels (in ``evidence``'s order) whose evidence
    terms (as the model names them) it belongs to; unmarked runs carry no label."""
    tokens = words(m, text)
    labels_at: list[list[str]] = [[] for _ in tokens]
    for label, names in evidence.items():
        wanted = {t for name in names for t in terms_named(m, name)}
        for index in _hits(tokens, wanted):
            if label not in labels_at[index]:
                labels_at[index].append(label)
    return _segments(text, tokens, labels_at)


def _hits(tokens: Sequence[Word], wanted: set[tuple[str, ...]]) -> set[int]:
    """Indexes of the tokens that make up a wanted unigram or bigram; a bigram's two words
    are adjacent once stop words are dropped, as the vectoriser pairs them."""
    kept = [i for i, t in enumerate(tokens) if t.stem is not None]
    hits = {i for i in kept if (tokens[i].stem,) in wanted}
    for a, b in pairwise(kept):
        if (tokens[a].stem, tokens[b].stem) in wanted:
            hits.update((a, b))
    return hits


def _segments(text: str, tokens: Sequence[Word], labels_at: Sequence[list[str]]) -> list[Segment]:
    out: list[Segment] = []
    at = 0
    for token, labels in zip(tokens, labels_at, strict=True):
        if not labels:
            continue
        if token.start > at:
            out.append((text[at : token.start], ()))
        out.append((text[token.start : token.end], tuple(labels)))
        at = token.end
    if at < len(text):
        out.append((text[at:], ()))
    return out
