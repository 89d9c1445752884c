"""Re-tagging, retention and the feed-list export: in process, and as real processes
(SIGKILL in the middle of a re-tag, then a rerun that finishes the work)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from poller_testkit import FeedServer, poll_once, poller_env, rss, start_poller, static
from sqlalchemy import create_engine, text

from common.labels import LABELS
from model import Item, Model
from poller.__main__ import main
from poller.feeds import import_opml
from poller.maintenance import Retention, eta, retag
from poller.opml import read_opml
from settings import Settings
from store import FeedUpdate, ItemFilter, NewItem, Store, open_store

NOW = datetime.now(UTC).replace(microsecond=0)
TEXTS = [
    ("Suicide bomber kills 12 at a checkpoint", "The attack hit soldiers at dawn."),
    ("Army retakes the town after militants withdraw", "Forces recaptured the port city."),
    ("Recruiters lure teenagers online to join the group", "Encrypted apps were used."),
    ("Markets rally as rates hold", "Shares rose in Asia and Europe."),
]


def stock(store: Store, n: int, fetched: datetime = NOW, version: str = "old-model") -> list[int]:
    """``n`` items tagged by another model (every one wrongly tagged attack only)."""
    feed = store.add_feed(f"https://a.example/{n}-{fetched.timestamp()}", now=fetched)
    items = [
        NewItem(
            f"k{k}",
            None,
            f"{TEXTS[k % 4][0]} ({k})",
            TEXTS[k % 4][1],
            fetched - timedelta(seconds=k),
            ["attack"],
            {label: (0.99 if label == "attack" else 0.01) for label in LABELS},
            version,
        )
        for k in range(n)
    ]
    added: list[int] = []
    for start in range(0, n, 1000):
        update = FeedUpdate(fetched, fetched, 200, 0)
        added += store.record_fetch(feed.id, "t", update, items[start : start + 1000])
    return added


def table(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def consistent(url: str) -> None:
    """Every item's labels and scores equal its item_scores rows."""
    rows = table(url, "SELECT id, labels, scores FROM items")
    scored: dict[int, dict[str, tuple[float, bool]]] = {}
    for item_id, label, score, assigned in table(url, "SELECT * FROM item_scores"):
        scored.setdefault(int(item_id), {})[str(label)] = (float(score), bool(assigned))  # type: ignore[arg-type]
    for item_id, labels, scores in rows:
        labels = json.loads(labels) if isinstance(labels, str) else labels
        scores = json.loads(scores) if isinstance(scores, str) else scores
        expected = {k: (float(v), k in labels) for k, v in scores.items()}
        assert scored[int(item_id)] == expected, item_id  # type: ignore[call-overload]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'wiretag.db'}"
        return
    yield request.getfixturevalue("pg_url")


def test_retag_rescores_every_stale_item_and_keeps_corrections(
    store_url: str, model: Model
) -> None:
    store = open_store(store_url)
    try:
        ids = stock(store, 30)
        current = stock(store, 2, version=model.version)
        store.add_corrections(ids[3], [("recruitment", "add")], "ana", now=NOW)
        report = retag(store, model, max_chars=20_000, batch=7)
        assert (report.items, report.left, report.version) == (30, 0, model.version)
        # the finance and recruitment stories are no longer "attack"; every bomber one is
        assert report.changed >= 15
        assert store.count_stale(model.version) == 0
        again = store.get_item(ids[3])
        assert again is not None
        fresh = model.classify([Item("x", again.title, again.summary)], explain=False)[0]
        assert again.labels == fresh.labels
        assert store.latest_verdicts([ids[3]]) == {ids[3]: {"recruitment": "add"}}
        assert retag(store, model, max_chars=20_000).items == 0  # nothing left: nothing done
        assert {store.get_item(i).model_version for i in current} == {model.version}  # type: ignore[union-attr]
    finally:
        store.close()
    consistent(store_url)


def test_eta() -> None:
    assert eta(50, 200, 2.0) == (25.0, 6.0)
    assert eta(0, 200, 0.0) == (0.0, 0.0)


def test_retag_survives_sigkill_and_a_rerun_finishes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = Settings(data_dir=data).sqlalchemy_url
    store = open_store(url)
    total = 4000
    stock(store, total)
    old = stock(store, 10, fetched=NOW - timedelta(days=400))
    store.close()
    env = poller_env(data)
    since = (NOW - timedelta(days=30)).date().isoformat()
    process = start_poller(env, "retag", "--batch", "20", "--since", since)
    try:
        progress = 0
        assert process.stdout is not None
        for line in process.stdout:
            progress += '"retag: ' in line and " items/s" in line
            if progress == 2:
                process.send_signal(signal.SIGKILL)
                break
        process.communicate(timeout=30)  # and the pipe is closed
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL
    done = table(url, "SELECT count(*) FROM items WHERE model_version != 'old-model'")[0][0]
    assert 40 <= int(done) < total, done  # stopped in the middle, whole batches written  # type: ignore[call-overload]
    consistent(url)
    rerun = start_poller(env, "retag", "--since", since)
    out, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, out
    assert f"re-tagged {total - int(done)} items" in out  # type: ignore[call-overload]
    left = table(url, "SELECT id FROM items WHERE model_version = 'old-model' ORDER BY id")
    assert [int(r[0]) for r in left] == old  # type: ignore[call-overload]  # before --since
    consistent(url)


def test_polling_goes_on_while_a_retag_runs(
    feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    """Re-tagging holds the SQLite write lock one short batch at a time: polls that land
    in the middle store their items (on time) and the re-tag still finishes."""
    stock(store, 3000)
    for feed in store.list_feeds():  # the stock's feed is not on the test server: paused
        store.change_feed(feed.id, {"paused": True})
    entries = [(f"Entry {k}", f"Body {k}") for k in range(20)]
    feeds = []
    for n in range(3):
        feed_server.routes[f"/f{n}"] = static(rss(entries, title=f"F{n}"))
        feeds.append(store.add_feed(feed_server.url(f"/f{n}")).id)
    done: list[int] = []
    worker = threading.Thread(
        target=lambda: done.append(retag(store, model, max_chars=20_000, batch=25).items)
    )
    worker.start()
    try:
        outcomes = poll_once(store, model, poll_settings)
    finally:
        worker.join(timeout=120)
    assert done == [3000]
    assert sorted((o.feed_id, o.new_items, o.error) for o in outcomes) == [
        (f, 20, None) for f in feeds
    ]
    assert all(o.seconds < 5 for o in outcomes), outcomes


# -- retention -------------------------------------------------------------------------


def test_retention_runs_hourly_within_a_budget(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        stock(store, 12, fetched=NOW - timedelta(days=10))
        young = stock(store, 3, fetched=NOW - timedelta(days=1))
        clock = [NOW]
        retention = Retention(store, 7, budget=5, now=lambda: clock[0])
        assert retention.run_if_due() == 5
        assert retention.run_if_due() == 5  # the budget was met: again at once
        assert retention.run_if_due() == 2
        assert retention.run_if_due() is None  # an hour has not passed
        clock[0] += timedelta(hours=1)
        assert retention.run_if_due() == 0
        remaining = [i.id for c in store.iter_items(ItemFilter()) for i in c]
        assert sorted(remaining) == sorted(young)
    finally:
        store.close()


@pytest.mark.slow
def test_the_poller_applies_retention_and_keeps_corrected_items(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = Settings(data_dir=data).sqlalchemy_url
    store = open_store(url)
    old = stock(store, 6, fetched=NOW - timedelta(days=31))
    young = stock(store, 2, fetched=NOW - timedelta(days=29))
    store.add_corrections(old[0], [("attack", "reject")], "ana", now=NOW)
    store.close()
    done = start_poller(poller_env(data, retention_days="30"), "--once")
    out, _ = done.communicate(timeout=60)
    assert done.returncode == 0, out
    assert "retention: deleted 5 items" in out
    kept = table(url, "SELECT id FROM items ORDER BY id")
    assert [int(r[0]) for r in kept] == sorted([old[0], *young])  # type: ignore[call-overload]
    assert table(url, "SELECT count(*) FROM corrections")[0][0] == 1


# -- the feed list as OPML -------------------------------------------------------------


def test_feeds_export_is_read_back_by_feeds_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "a"
    monkeypatch.setenv("WIRETAG_DATA_DIR", str(source))
    monkeypatch.setenv("WIRETAG_ALLOW_PRIVATE_NETWORKS", "true")
    store = open_store(Settings(data_dir=source).sqlalchemy_url)
    store.add_feed("http://127.0.0.1:9/one.xml", title='News & "Views" <1>')
    store.add_feed("http://127.0.0.1:9/two.xml?a=1&b=2")
    store.add_feed("http://127.0.0.1:9/three.xml", title="Ünïcode \x01 titles")
    feeds = {(f.url, f.title) for f in store.list_feeds()}
    store.close()
    out = tmp_path / "feeds.opml"
    assert main(["feeds", "export", "--out", str(out)]) == 0
    assert main(["feeds", "export"]) == 0
    assert capsys.readouterr().out.encode() == out.read_bytes()
    cleaned = {(u, t.replace("\x01", "") if t else t) for u, t in feeds}
    assert {(o.url, o.title) for o in read_opml(out)} == cleaned
    monkeypatch.setenv("WIRETAG_DATA_DIR", str(tmp_path / "b"))
    assert main(["feeds", "import", str(out)]) == 0
    copy = open_store(Settings(data_dir=tmp_path / "b").sqlalchemy_url)
    try:
        assert {(f.url, f.title) for f in copy.list_feeds()} == cleaned
    finally:
        copy.close()


def test_feeds_import_refuses_a_url_urlsplit_cannot_read_and_adds_the_rest(
    tmp_path: Path,
) -> None:
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head/><body>'
        '<outline type="rss" text="broken" xmlUrl="http://[::1/feed.xml"/>'
        '<outline type="rss" text="fine" xmlUrl="http://127.0.0.1:9/fine.xml"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    store = open_store(f"sqlite:///{tmp_path / 'feeds.db'}")
    try:
        report = import_opml(store, opml, allow_private=True)
        assert [url for url, _ in report.refused] == ["http://[::1/feed.xml"]
        assert [f.url for f in store.list_feeds()] == ["http://127.0.0.1:9/fine.xml"]
    finally:
        store.close()


def test_feeds_export_to_a_place_it_cannot_write_is_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIRETAG_DATA_DIR", str(tmp_path / "data"))
    missing = tmp_path / "no-such-folder" / "feeds.opml"
    assert main(["feeds", "export", "--out", str(missing)]) == 1
    assert f"error: cannot write {missing}: No such file or directory" in capsys.readouterr().err
    folder = tmp_path / "a-folder"
    (folder / "inside").mkdir(parents=True)
    assert main(["feeds", "export", "--out", str(folder)]) == 1  # the .tmp cannot replace it
    assert "error: cannot write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder", "data"]  # no .tmp left
