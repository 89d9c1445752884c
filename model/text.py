"""Items in, results out: the plain data the rest of wiretag passes to and from the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from common.labels import LABELS

__all__ = ["LABELS", "Item", "Result", "compose"]

_PLACES = repeat(4)  # round(score, 4) for every score, from a C-level map


@dataclass(frozen=True)
class Item:
    """A news item to classify: an RSS entry (title + summary) or a whole article."""

    id: str | None
    title: str
    text: str


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 1 us an item to build
class Result:
    """The model's answer for one item: the labels over their thresholds, every label's
    calibrated score, and per label the terms that pushed its raw score up most, as
    (term, weight) pairs with weights rounded to 4 places."""

    id: str | None
    labels: list[str]
    scores: dict[str, float]
    evidence: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def to_dict(self, explain: bool = True) -> dict[str, Any]:
        """JSON-ready form: scores rounded to 4 places, evidence as (term, weight) pairs
        (JSON arrays; the model rounds their weights to 4 places already)."""
        scores = self.scores
        out: dict[str, Any] = {
            "id": self.id,
            "labels": list(self.labels),
            "scores": dict(zip(scores, map(round, scores.values(), _PLACES), strict=False)),
        }
        if explain:
            out["evidence"] = dict(self.evidence)
        return out


def compose(title: str, text: str) -> str:
    """The one string the model reads: the title twice (it carries the story), then the body."""
    title, text = title.strip(), text.strip()
    return f"{title}\n{title}\n{text}" if title else text
