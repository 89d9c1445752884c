"""The store's side of the workspace, on SQLite and PostgreSQL: search, label filters with
analysts' verdicts, both listing plans, the review queue, counts, corrections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.labels import LABELS
from store import (
    Correction,
    FeedUpdate,
    ItemFilter,
    ItemNotFound,
    NewItem,
    Store,
    latest_verdicts_of,
    listing,
    parse_query,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEXTS = [
    ("Suicide bombers attacked a market in Kabul", "Twelve people were killed.", ["attack"]),
    ("Army retakes the town of Sirte", "Forces recaptured the port.", ["territorial_loss"]),
    ("North Korea tests a missile", "The launch worried Seoul.", []),
    ("Bomb attack on a bus in North Korea?", "No, in Syria: an attack killed four.", ["attack"]),
    ("Recruiters lure teenagers online", "Encrypted apps were used.", ["recruitment"]),
]


def fill(store: Store) -> list[int]:
    feed = store.add_feed("https://a.example/feed", now=NOW)
    items = [
        NewItem(
            f"k{k}",
            f"https://a.example/{k}",
            title,
            summary,
            NOW - timedelta(hours=k),
            labels,
            {label: (0.9 if label in labels else 0.1 + 0.05 * k) for label in LABELS},
            "v1",
        )
        for k, (title, summary, labels) in enumerate(TEXTS)
    ]
    return store.record_fetch(feed.id, "t", FeedUpdate(NOW, NOW, 200, 0), items)


def titles(store: Store, **filters: object) -> list[str]:
    query = filters.pop("q", None)
    search = parse_query(str(query)) if query else None
    page = store.page_items(ItemFilter(search=search, **filters), limit=50)  # type: ignore[arg-type]
    return [item.title for item in page.items]


@pytest.mark.parametrize("gather_limit", [0, 10**9], ids=["walk", "gather"])
def test_search_words_stems_phrases_and_exclusions(
    store: Store, gather_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "GATHER_LIMIT", gather_limit)
    monkeypatch.setattr(listing, "GATHER_LIMIT_ALONE", gather_limit)
    fill(store)
    assert titles(store, q="attack") == [TEXTS[0][0], TEXTS[3][0]]  # "attacked" too
    assert titles(store, q="recapture") == [TEXTS[1][0]]  # a word of the summary, stemmed
    assert titles(store, q='"north korea"') == [TEXTS[2][0], TEXTS[3][0]]
    assert titles(store, q="korea -syria") == [TEXTS[2][0]]
    assert titles(store, q="korea attack", labels=("attack",)) == [TEXTS[3][0]]
    assert titles(store, q='the "OR" ( * ") killed') == [TEXTS[0][0], TEXTS[3][0]]
    assert titles(store, q="nothingmatches") == []


def test_parse_query_refusals() -> None:
    assert parse_query("   ") is None and parse_query("the of") is None
    with pytest.raises(ValueError, match="at least one word"):
        parse_query("-korea")
    with pytest.raises(ValueError, match="at most"):
        parse_query("w " * 13)


@pytest.mark.parametrize("gather_limit", [0, 10**9], ids=["walk", "gather"])
def test_label_filters_apply_the_latest_verdict(
    store: Store, gather_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "GATHER_LIMIT", gather_limit)
    monkeypatch.setattr(listing, "GATHER_LIMIT_ALONE", gather_limit)
    ids = fill(store)
    store.add_corrections(ids[0], [("attack", "reject")], "ann", now=NOW)
    store.add_corrections(ids[2], [("attack", "add")], "ann", now=NOW)
    assert titles(store, labels=("attack",)) == [TEXTS[2][0], TEXTS[3][0]]
    assert titles(store, labels=("attack",), q="korea") == [TEXTS[2][0], TEXTS[3][0]]
    store.add_corrections(ids[0], [("attack", "confirm")], "bob", now=NOW + timedelta(1))
    assert titles(store, labels=("attack",)) == [TEXTS[0][0], TEXTS[2][0], TEXTS[3][0]]
    both = titles(store, labels=("attack", "recruitment"))
    assert both == [TEXTS[0][0], TEXTS[2][0], TEXTS[3][0], TEXTS[4][0]]
    assert titles(store, labels=("attack",), min_score=0.5) == [TEXTS[0][0], TEXTS[3][0]]


def test_corrections_history_feed_and_cascade(store: Store) -> None:
    ids = fill(store)
    made = store.add_corrections(ids[1], [("attack", "add"), ("territorial_loss", "confirm")], "a")
    later = store.add_corrections(
        ids[1], [("attack", "reject")], "b", now=made[0].created_at + timedelta(seconds=1)
    )
    assert store.latest_verdicts([ids[1]]) == {
        ids[1]: {"attack": "reject", "territorial_loss": "confirm"}
    }
    assert [c.id for c in store.list_corrections()] == [c.id for c in made + later]
    assert [c.id for c in store.list_corrections(after_id=made[0].id, limit=1)] == [made[1].id]
    assert store.list_corrections(since=later[0].created_at) == later
    assert store.corrected_item_ids() == {ids[1]} and store.corrected_item_ids([ids[0]]) == set()
    assert [item.id for item, _ in store.corrected_items(batch=1)] == [ids[1]]
    with pytest.raises(ItemNotFound):
        store.add_corrections(10**6, [("attack", "add")], "a")
    with pytest.raises(ValueError, match="unknown verdict"):
        store.add_corrections(ids[1], [("attack", "maybe")], "a")
    with pytest.raises(ValueError, match="analyst"):
        store.add_corrections(ids[1], [("attack", "add")], " ")
    store.remove_feed(store.get_item(ids[1]).feed_id)  # type: ignore[union-attr]
    assert store.list_corrections() == [] and titles(store, q="sirte") == []


def test_review_queue_nearest_threshold_first_without_judged_items(store: Store) -> None:
    ids = fill(store)
    thresholds = {label: 0.3 for label in LABELS}
    queue = store.uncertain_items(thresholds, limit=3)
    assert [u.item.id for u in queue] == [ids[4], ids[3], ids[2]]  # 0.30, 0.25, 0.20
    assert queue[0].margin == pytest.approx(0.0)
    store.add_corrections(ids[4], [("attack", "reject")], "ann")
    assert ids[4] not in [u.item.id for u in store.uncertain_items(thresholds, limit=10)]
    assert [u.item.id for u in store.uncertain_items(thresholds, limit=1, offset=1)] == [ids[2]]


def test_label_counts_per_hour_and_day(store: Store) -> None:
    fill(store)
    hourly = store.label_counts(NOW - timedelta(hours=48), "hour")
    assert hourly["attack"] == {NOW: 1, NOW - timedelta(hours=3): 1}
    daily = store.label_counts(NOW - timedelta(days=30), "day")
    assert daily["territorial_loss"] == {NOW.replace(hour=0): 1}
    with pytest.raises(ValueError):
        store.label_counts(NOW, "week")


def test_latest_verdicts_of_takes_the_newest_verdict_per_label() -> None:
    at = datetime(2026, 1, 31, 12, tzinfo=UTC)

    def made(id_: int, label: str, verdict: str) -> Correction:
        return Correction(id_, 7, label, verdict, "ana", at + timedelta(minutes=id_))

    newest_first = [
        made(3, "attack", "reject"),
        made(2, "protest", "add"),
        made(1, "attack", "confirm"),
    ]
    assert latest_verdicts_of(newest_first) == {"attack": "reject", "protest": "add"}
    assert latest_verdicts_of([]) == {}
