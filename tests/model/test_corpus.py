"""Corpus loading: every bad line is an error naming file and line; duplicates counted once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.corpus import CorpusError, load

GOOD = {"id": "a", "title": "Bomb kills five", "text": "A bomb exploded.", "labels": ["attack"]}


def lines(tmp_path: Path, *rows: object, name: str = "c.jsonl") -> str:
    path = tmp_path / name
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return str(path)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "invalid JSON"),
        ('["a list"]', "must be a JSON object"),
        ({**GOOD, "id": "b", "labels": ["attack", "sports"]}, "unknown label(s) ['sports']"),
        ({"id": "b", "title": " ", "text": "", "labels": []}, "needs a title or a text"),
        ({**GOOD, "labels": []}, "duplicate id 'a'"),
        ({**GOOD, "id": "b", "labels": "attack"}, '"labels" must be a list'),
        ({"title": "x", "text": "y", "labels": []}, 'missing or empty "id"'),
    ],
)
def test_each_bad_line_names_file_and_line(tmp_path: Path, bad: object, message: str) -> None:
    path = lines(tmp_path, GOOD, bad)
    with pytest.raises(CorpusError) as caught:
        load([path])
    assert f"{path}:2:" in str(caught.value)
    assert message in str(caught.value)


def test_duplicate_id_across_files_is_an_error(tmp_path: Path) -> None:
    first = lines(tmp_path, GOOD, name="one.jsonl")
    second = lines(tmp_path, {**GOOD, "text": "other"}, name="two.jsonl")
    with pytest.raises(CorpusError, match=r"two\.jsonl:1: duplicate id 'a'"):
        load([first, second])


def test_identical_texts_across_files_are_counted_once(tmp_path: Path) -> None:
    first = lines(tmp_path, GOOD, name="one.jsonl")
    second = lines(tmp_path, {**GOOD, "id": "z", "title": "  Bomb KILLS five"}, name="two.jsonl")
    corpus = load([first, second])
    assert [e.id for e in corpus.examples] == ["a"]
    assert corpus.duplicates_dropped == 1


def test_globs_origins_and_file_counts(tmp_path: Path) -> None:
    lines(tmp_path, GOOD, name="real.jsonl")
    lines(
        tmp_path,
        {**GOOD, "id": "w", "text": "new", "source": "written", "labels": []},
        name="mine.jsonl",
    )
    corpus = load([str(tmp_path / "*.jsonl")])
    assert {e.id: e.origin for e in corpus.examples} == {"w": "written", "a": "real"}
    real = corpus.files[str(tmp_path / "real.jsonl")]
    assert real["labels"]["attack"] == 1
    assert real["origin"] == {"real": 1}
    assert len(str(real["sha256"])) == 64


def test_a_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no file matches"):
        load([str(tmp_path / "*.jsonl")])
