"""Fixtures for model/ and training/: a small corpus written for the tests, a model trained on it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from training import train as train_mod
from training.progress import Progress

REPO = Path(__file__).resolve().parents[2]

PLACES = ["Mosul", "Raqqa", "Sirte", "Kismayo", "Marawi", "Palmyra", "Gao", "Maiduguri"]
GROUPS = ["Islamic State", "al-Shabaab", "Boko Haram", "al-Qaeda"]
TEMPLATES = {
    ("territorial_loss",): [
        "Troops recapture {place} from {group} after weeks of fighting",
        "{group} fighters retreat from {place} as army retakes the town",
    ],
    ("attack",): [
        "Suicide bomber kills civilians at a market in {place}; {group} claims the attack",
        "Gunmen storm a hotel in {place}, taking hostages; {group} blamed for the assault",
    ],
    ("recruitment",): [
        "Teenagers from {place} lured online to travel and join {group}",
        "Court jails man who recruited foreign fighters for {group} from {place}",
    ],
    ("counter_propaganda",): [
        "Clerics in {place} launch campaign countering {group} messages online",
        "Platform removes thousands of {group} videos and suspends accounts in {place}",
    ],
    (): [
        "Central bank in {place} holds interest rates as inflation cools",
        "Football club from {place} signs a new coach before the season",
    ],
}


def tiny_items() -> list[dict[str, object]]:
    """Forty labelled items built from templates, deterministic."""
    items = []
    for (labels, templates), n in itertools.product(TEMPLATES.items(), range(8)):
        template = templates[n % 2]
        title = template.format(place=PLACES[n], group=GROUPS[n % 4])
        text = f"Officials in {PLACES[(n + 3) % 8]} described the events of the day. " * (1 + n % 3)
        items.append(
            {
                "id": f"t-{labels[0] if labels else 'none'}-{n}",
                "title": title,
                "text": text,
                "labels": list(labels),
            }
        )
    return items


def write_jsonl(path: Path, items: list[dict[str, object]]) -> Path:
    """Write items as JSON lines and return the path."""
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny corpus as a JSONL file."""
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "tiny.jsonl", tiny_items())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: Path) -> Path:
    """A model trained end to end on the tiny corpus (3 outer, 2 inner folds), with its
    report; what training said while it ran is in ``../progress.log``."""
    out = tmp_path_factory.mktemp("model")
    with (out.parent / "progress.log").open("w", encoding="utf-8") as log:
        progress = Progress(enabled=True, stream=log)
        train_mod.train([str(tiny_corpus)], [], [], str(out), 3, 2, progress, report=True)
    return out
