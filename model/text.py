"""Items in, results out: the plain data the rest of wiretag passes to and from the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.labels import LABELS

__all__ = ["LABELS", "Item", "Result", "compose"]


@dataclass(frozen=True)
class Item:
    """A news item to classify: an RSS entry (title + summary) or a whole article."""

    id: str | None
    title: str
    text: str


@dataclass(frozen=True)
class Result:
    """The model's answer for one item."""

    id: str | None
    labels: list[str]
    scores: dict[str, float]
    evidence: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def to_dict(self, explain: bool = True) -> dict[str, Any]:
        """JSON-ready form: scores rounded to 4 places, evidence as [term, weight] pairs."""
        out: dict[str, Any] = {
            "id": self.id,
            "labels": list(self.labels),
            "scores": {label: round(score, 4) for label, score in self.scores.items()},
        }
        if explain:
            out["evidence"] = {
                label: [[term, round(weight, 4)] for term, weight in terms]
                for label, terms in self.evidence.items()
            }
        return out


def compose(title: str, text: str) -> str:
    """The one string the model reads: the title twice (it carries the story), then the body."""
    title, text = title.strip(), text.strip()
    return f"{title}\n{title}\n{text}" if title else text
