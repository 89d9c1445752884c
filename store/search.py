"""Full-text search: an analyst's query, parsed once and written for either store.

The query language is the one web search boxes taught everyone, and the same on SQLite
(FTS5) and PostgreSQL (``websearch_to_tsquery``): words must all occur (in any order, in
the title or the summary), ``"a phrase"`` must occur as written, ``-word`` must not occur.
Words are matched by their English stem ("attacks" finds "attack").  Anything else in the
text (punctuation, operators) is ignored, so no input can break the SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
_PART = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
_WORD = re.compile(r"\w+")
# Words too common to search for.  PostgreSQL's english configuration drops these (its
# list is longer); dropping the commonest on both stores keeps their answers alike, and
# keeps SQLite from matching nearly every item.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "he",
        "her",
        "his",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "she",
        "that",
        "the",
        "their",
        "there",
        "they",
        "this",
        "to",
        "was",
        "were",
        "which",
        "who",
        "will",
        "with",
    ]
)


@dataclass(frozen=True)
class Term:
    """One word or phrase of a query, which must (or, negated, must not) occur."""

    words: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: at least one term that must occur."""

    terms: tuple[Term, ...]

    def fts5(self) -> str:
        """The FTS5 MATCH expression (every word quoted: no operator can slip in)."""
        positive = " ".join(_quoted(t) for t in self.terms if not t.negated)
        negative = "".join(f" NOT {_quoted(t)}" for t in self.terms if t.negated)
        return f"({positive}){negative}" if negative else positive

    def websearch(self) -> str:
        """The same query for PostgreSQL's ``websearch_to_tsquery``."""
        return " ".join(("-" if t.negated else "") + _quoted(t) for t in self.terms)


def _quoted(term: Term) -> str:
    return '"' + " ".join(term.words) + '"'


def parse_query(text: str) -> SearchQuery | None:
    """The query in ``text``; None if it holds no word; ValueError if it is too long or
    only excludes words."""
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"a search may be at most {MAX_QUERY_CHARS} characters long")
    terms = []
    for match in _PART.finditer(text):
        negated = bool(match.group(1) or match.group(3))
        found = _WORD.findall(match.group(2) or match.group(4) or "")
        words = tuple(w.lower() for w in found if w.lower() not in STOP_WORDS)
        if words:
            terms.append(Term(words, negated))
    if not terms:
        return None
    if len(terms) > MAX_TERMS:
        raise ValueError(f"a search may hold at most {MAX_TERMS} words or phrases")
    if all(t.negated for t in terms):
        raise ValueError("a search needs at least one word to look for, not only -exclusions")
    return SearchQuery(tuple(terms))
