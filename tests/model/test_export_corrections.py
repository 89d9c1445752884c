"""Corrections become training data: export-corrections, and a correction that changes
the next trained model's decision on its item."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import model
from store import FeedUpdate, NewItem, Store, open_store
from training import train as train_mod
from training.__main__ import main as training_main
from training.corpus import load

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Words the tiny corpus never uses: only an analyst's verdict can teach them.
NOVEL = ("Drone strike hits convoy near Gao", "A drone strike destroyed a convoy of trucks.")


def stored(store: Store, m: model.Model, texts: list[tuple[str, str]]) -> list[int]:
    """Store ``texts`` as one feed's items, tagged by ``m``; return their ids."""
    feed = store.add_feed("https://news.example/feed.xml", now=NOW)
    results = m.classify([model.Item(None, t, s) for t, s in texts], explain=False)
    items = [
        NewItem(f"k{k}", f"https://news.example/{k}", t, s, NOW, r.labels, r.scores, m.version)
        for k, ((t, s), r) in enumerate(zip(texts, results, strict=True))
    ]
    update = FeedUpdate(NOW, NOW + timedelta(minutes=15), 200, 0)
    return store.record_fetch(feed.id, "test", update, items)


def test_export_writes_corrected_items_in_the_corpus_format(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    m = model.load(tiny_model_dir)
    first, second, untouched = stored(store, m, [NOVEL, ("Army retakes Mosul", ""), ("x", "y")])
    store.add_corrections(first, [("attack", "add")], "ann", now=NOW)
    store.add_corrections(second, [("territorial_loss", "reject")], "ann", now=NOW)
    store.add_corrections(second, [("territorial_loss", "confirm")], "bob", now=NOW + timedelta(1))
    out = tmp_path / "out" / "corrections.jsonl"
    from training.corrections import export_corrections

    assert export_corrections(store, out) == 2
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == [f"analyst-{first}", f"analyst-{second}"]
    assert lines[0]["labels"] == ["attack"] and lines[0]["source"] == "analyst"
    assert lines[0]["title"] == NOVEL[0] and lines[0]["text"] == NOVEL[1]
    assert "territorial_loss" in lines[1]["labels"]  # bob's later confirm wins
    assert lines[1]["context"]["verdicts"] == {"territorial_loss": "confirm"}
    assert all(line["context"]["item_id"] != untouched for line in lines)
    assert len(load([str(out)]).examples) == 2  # the corpus reader takes the file as it is
    assert not list(out.parent.glob("*.partial"))
    store.close()


def test_a_correction_changes_the_next_models_decision(
    tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    before = model.load(tiny_model_dir)
    given = before.classify([model.Item(None, *NOVEL)])[0].labels
    missing = [label for label in model.LABELS if label not in given]
    assert missing, given  # the tiny model cannot know these words: some label is absent
    label = missing[0]
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    (item_id,) = stored(store, before, [NOVEL])
    store.add_corrections(item_id, [(label, "add")], "ann")
    store.close()
    out = tmp_path / "corrections.jsonl"
    env = {"WIRETAG_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert training_main(["export-corrections", "--out", str(out)]) == 0
    retrained = tmp_path / "model"
    train_mod.train([str(out), str(tiny_corpus)], [], [], str(retrained), folds=3, inner_folds=2)
    after = model.load(retrained)
    assert label in after.classify([model.Item(None, *NOVEL)])[0].labels
    card = json.loads((retrained / "card.json").read_text())
    assert card["data"]["files"][str(out)]["items"] == 1


def test_export_refuses_a_bad_store_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WIRETAG_DATABASE_URL", "mysql://nowhere/db")
        assert training_main(["export-corrections", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "WIRETAG_DATABASE_URL" in capsys.readouterr().err
