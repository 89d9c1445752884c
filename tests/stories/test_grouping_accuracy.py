"""Grouping precision and recall on the 400 hand-labelled pairs (texts from ../shared).

The floors are what the shipped Params measured (bench/stories_accuracy.py, README):
grouping is deterministic (fixed seed, SHA-1 shingle hashes), so a drop means a change
made grouping worse on real items, and the README's figures must be measured again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stories import Params, Signer, StoriesError
from stories.evaluation import decide, load_pairs, score

HERE = Path(__file__).resolve().parent
PAIRS = HERE / "pairs.jsonl"
ITEMS = "unlabelled/google_news_rss_2017.jsonl"
SHA256 = "e1423e4d38f431f4fdfaf837d8573ee18d8b070ef3bb323e3c9fe4b5324a5d4e"
PRECISION = 0.887  # measured 118 / 133 = 0.8872
RECALL = 0.605  # measured 118 / 195 = 0.6051


def test_the_pairs_file_holds_ids_and_verdicts_only() -> None:
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 400
    assert all(set(r) == {"a", "b", "same", "drawn"} and r["a"] != r["b"] for r in rows)
    assert len({frozenset((r["a"], r["b"])) for r in rows}) == 400
    assert sum(r["same"] for r in rows) == 195
    assert all(isinstance(r["same"], bool) for r in rows)


def test_precision_and_recall_on_the_labelled_pairs(shared: Path) -> None:
    pairs = load_pairs(PAIRS, shared / ITEMS, SHA256)
    signer = Signer(Params())
    result = score(pairs, lambda pair: decide(pair, signer))
    assert result.tp + result.fn == 195
    assert result.precision >= PRECISION, result
    assert result.recall >= RECALL, result


def test_loading_refuses_another_items_file(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(
        '{"id": "x1", "title": "t", "text": "s", "date": "2017-05-01"}\n', encoding="utf-8"
    )
    with pytest.raises(StoriesError, match="labelled on"):
        load_pairs(PAIRS, items, SHA256)
    with pytest.raises(StoriesError, match="lacks 4"):
        pairs = tmp_path / "pairs.jsonl"
        pairs.write_text(
            '{"a": "x1", "b": "x2", "same": true}\n{"a": "x3", "b": "x4", "same": false}\n'
            '{"a": "x5", "b": "x1", "same": false}\n',
            encoding="utf-8",
        )
        load_pairs(pairs, items)
