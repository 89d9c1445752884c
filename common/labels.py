"""The topic labels wiretag assigns, in the one order used everywhere (model columns,
cards, answers); ``../shared/ANNOTATION.md`` defines each."""

from __future__ import annotations

LABELS: tuple[str, ...] = ("territorial_loss", "attack", "recruitment", "counter_propaganda")
