"""Evidence marks on a page: a text cut into runs, each with the labels it is evidence for.

The model names each evidence term by a readable word and finds every word of a text that
is one of its features (:meth:`model.Model.spans`, word forms included, since the features
are stems).  Marking is then a matter of matching those names, here, on the page's side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

Span = tuple[int, int, str]  # (start, end, term as evidence names it)
Segment = tuple[str, tuple[str, ...]]  # a run of text and the labels it is evidence for


def marks(spans: Sequence[Span], text: str, evidence: Mapping[str, Iterable[str]]) -> list[Segment]:
    """``text`` cut into runs, each with the labels (in ``evidence``'s order) whose terms it
    belongs to; a two-word term marks two adjacent feature words.  Unmarked runs carry ()."""
    labels_at: list[list[str]] = [[] for _ in spans]
    terms = [term for _, _, term in spans]
    for label, names in evidence.items():
        for index in _hits(terms, set(names)):
            if label not in labels_at[index]:
                labels_at[index].append(label)
    return _segments(text, spans, labels_at)


def _hits(terms: Sequence[str], wanted: set[str]) -> set[int]:
    """Indexes of the words that make up a wanted term, alone or as a pair with the next."""
    hits = {i for i, term in enumerate(terms) if term in wanted}
    for i in range(len(terms) - 1):
        if f"{terms[i]} {terms[i + 1]}" in wanted:
            hits.update((i, i + 1))
    return hits


def _segments(text: str, spans: Sequence[Span], labels_at: Sequence[list[str]]) -> list[Segment]:
    out: list[Segment] = []
    at = 0
    for (start, end, _), labels in zip(spans, labels_at, strict=True):
        if not labels:
            continue
        if start > at:
            out.append((text[at:start], ()))
        out.append((text[start:end], tuple(labels)))
        at = end
    if at < len(text):
        out.append((text[at:], ()))
    return out
