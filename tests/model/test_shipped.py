"""The shipped model: its card is true to the corpus and to how it scores the seed articles."""

from __future__ import annotations

import json
from pathlib import Path

import model
from model import Item
from training import train as train_mod

REPO = Path(__file__).resolve().parents[2]


def test_shipped_model_loads_and_its_card_is_complete() -> None:
    loaded = model.load()
    assert loaded.labels == model.LABELS
    card = loaded.card
    for key in (
        "thresholds",
        "hyperparameters",
        "versions",
        "data",
        "cross_validation",
        "top_terms",
        "training_seconds",
        "date",
        "artifact_sha256",
    ):
        assert key in card, key
    assert (REPO / "model" / "wiretag.joblib").stat().st_size < 5 * 1024 * 1024


def test_card_records_the_corpus_files_it_was_trained_on(shared_data: Path) -> None:
    files = model.load().card["data"]["files"]
    for name, entry in files.items():
        path = Path(name)
        local = (
            shared_data / path.name
            if "shared" in path.parts
            else REPO / "training/data" / path.name
        )
        assert local.is_file(), f"{name} named on the card is missing"
        assert model.sha256_file(local) == entry["sha256"], f"{path.name} changed: run make train"
    assert not any("seed_articles" in name for name in files), "seed articles must stay held out"


def test_seed_articles_score_as_the_card_says(shared_data: Path) -> None:
    report = train_mod.evaluate([str(shared_data / "seed_articles.jsonl")], None)
    recorded = model.load().card["checks"]["seed_articles.jsonl"]
    assert report["exact"] == recorded["exact"]
    assert report["macro_f1"] == recorded["macro_f1"]
    assert report["items"] == 10


def test_seed_articles_get_their_main_topic(shared_data: Path) -> None:
    """Every seed article with labels gets at least one of them; the two with none get none
    of the four at a high score."""
    rows = [json.loads(x) for x in (shared_data / "seed_articles.jsonl").read_text().splitlines()]
    results = model.load().classify([Item(r["id"], r["title"], r["text"]) for r in rows])
    for row, result in zip(rows, results, strict=True):
        if row["labels"]:
            assert set(row["labels"]) & set(result.labels), (row["id"], result.labels)
