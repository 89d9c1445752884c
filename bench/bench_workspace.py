"""The analysts' workspace at 200,000 stored items, on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_workspace.py [--items 200000] [--rounds 20]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--sqlite-only]
        [--keep DIR] [--postgres-schema NAME]

Fills each store with ``--items`` real RSS items (title and description from
``../shared/unlabelled/google_news_rss_2017.jsonl``, recycled, tagged by the shipped
model, spread over the last 60 days across 20 feeds), then times, through the Flask app
(the same code gunicorn serves, rendering included) and ``--rounds`` times each:

* the queue with a label filter and a search (the issue's target: p95 <= 100 ms), for
  searches from rare to common words and a phrase;
* the queue with a label filter alone, and with a search alone;
* the item view, the review queue and the overview.

SQLite lives in a temporary directory (or ``--keep DIR``, reused when it already holds
the items); PostgreSQL in a fresh schema of the given database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "kit"))  # scratch_schema

from storekit import scratch_schema  # noqa: E402

import model  # noqa: E402
from settings import Settings  # noqa: E402
from store import FeedUpdate, NewItem, Store, open_store  # noqa: E402

UNLABELLED = REPO.parent / "shared" / "unlabelled" / "google_news_rss_2017.jsonl"
FEEDS = 20
BATCH = 2000
SPAN = timedelta(days=60)
# label filter + search: rare to common words, and a phrase
SEARCHES = [
    ("attack", "killed"),
    ("attack", "police"),
    ("attack", "trump"),
    ("territorial_loss", "mosul"),
    ("territorial_loss", "syria"),
    ("recruitment", "isis"),
    ("counter_propaganda", "twitter"),
    ("attack", '"north korea"'),
    ("attack", "london -bridge"),
    ("recruitment", "the"),
]


def texts() -> list[tuple[str, str]]:
    """Every (title, description) of the unlabelled RSS items, in file order."""
    out = []
    with UNLABELLED.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            out.append((row.get("title") or "", row.get("text") or ""))
    return out


def tagged(pool: list[tuple[str, str]]) -> list[tuple[str, str, list[str], dict[str, float]]]:
    """Each text with the shipped model's labels and scores."""
    m = model.load()
    results = []
    for start in range(0, len(pool), 5000):
        chunk = pool[start : start + 5000]
        items = [model.Item(None, t, s) for t, s in chunk]
        results += m.classify(items, explain=False)
    return [(t, s, r.labels, r.scores) for (t, s), r in zip(pool, results, strict=True)]


def batches(n: int, now: datetime) -> Iterator[tuple[int, list[NewItem]]]:
    """``n`` items in batches, each for one feed, sort times spread over SPAN."""
    print(f"tagging {UNLABELLED.name} with the shipped model ...", flush=True)
    pool = tagged(texts())
    version = model.load().version
    for start in range(0, n, BATCH):
        out = []
        for k in range(start, min(n, start + BATCH)):
            title, summary, labels, scores = pool[k % len(pool)]
            when = now - SPAN * (k / n)
            out.append(
                NewItem(
                    f"bench-{k}",
                    f"https://news.example/{k}",
                    title,
                    summary,
                    when,
                    labels,
                    scores,
                    version,
                )
            )
        yield (start // BATCH) % FEEDS, out


def fill(store: Store, n: int) -> float:
    """Store ``n`` items through record_fetch (as the poller does); return seconds."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    feed_ids = [store.add_feed(f"https://feeds.example/{f}.xml").id for f in range(FEEDS)]
    done = 0
    for feed, items in batches(n, now):
        update = FeedUpdate(now, now + timedelta(minutes=15), 200, 0)
        store.record_fetch(feed_ids[feed], "bench", update, items)
        done += len(items)
        if done % 20000 == 0:
            print(f"  {done} items stored ({time.perf_counter() - started:.0f} s)", flush=True)
    return time.perf_counter() - started


def timed(call: Callable[[], Any], rounds: int) -> list[float]:
    """Milliseconds of each of ``rounds`` calls, after one warm-up call."""
    call()
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        out.append(1000 * (time.perf_counter() - started))
    return out


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def page_cases(client: Any, item_id: int) -> list[tuple[str, str]]:
    """(name, path) of each page timed."""
    cases = [
        (f"queue label={label} q={q}", "/?" + urlencode({"label": label, "q": q}))
        for label, q in SEARCHES
    ]
    cases += [
        ("queue label=attack", "/?label=attack"),
        ("queue label=counter_propaganda", "/?label=counter_propaganda"),
        ("queue q=police", "/?q=police"),
        ("queue (no filter)", "/"),
        ("item view", f"/items/{item_id}"),
        ("review queue", "/review"),
        ("overview", "/overview"),
    ]
    return cases


def measure(url: str, rounds: int) -> list[tuple[str, list[float]]]:
    """Time every page against the store at ``url``."""
    from service import create_app

    app = create_app(Settings(database_url=url))
    client = app.test_client()
    some = client.get("/?label=attack")
    assert some.status_code == 200, some.status_code
    store = open_store(url)
    item_id = store.list_items(label="attack", limit=1)[0][0].id
    store.close()
    results = []
    for name, path in page_cases(client, item_id):

        def call(path: str = path) -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        results.append((name, timed(call, rounds)))
    return results


def report(store_name: str, results: list[tuple[str, list[float]]]) -> None:
    """One line per page: p50, p95, max; and the p95 over every label+search case."""
    print(f"\n{store_name}: page times in ms (p50 / p95 / max)")
    for name, ms in results:
        print(f"  {name:<44} {statistics.median(ms):7.1f} {p95(ms):7.1f} {max(ms):7.1f}")
    combined = [t for name, ms in results if "label=" in name and "q=" in name for t in ms]
    print(f"  label filter + search, all cases together: p95 {p95(combined):.1f} ms")


def run(store_name: str, url: str, n: int, rounds: int, reuse: bool = False) -> None:
    """Fill (unless reusing) and measure one store."""
    store = open_store(url)
    if not (reuse and store.list_items(limit=1)[0]):
        print(f"{store_name}: storing {n} items ...", flush=True)
        print(f"{store_name}: {n} items stored in {fill(store, n):.0f} s", flush=True)
    store.close()
    analyze(url)
    report(store_name, measure(url, rounds))


def analyze(url: str) -> None:
    """Let PostgreSQL's planner and visibility map catch up with the bulk load, as
    autovacuum would on a live store (SQLite plans without statistics)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def main() -> None:
    """Fill and measure SQLite, then PostgreSQL if a URL is given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--postgres-url", default=os.environ.get("WIRETAG_TEST_POSTGRES_URL"))
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-only", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the SQLite file here")
    parser.add_argument(
        "--postgres-schema", help="keep (and reuse) the PostgreSQL items in this schema"
    )
    args = parser.parse_args()
    if not UNLABELLED.is_file():
        sys.exit(f"needs {UNLABELLED} (../shared beside the checkout)")
    if not args.postgres_only:
        with tempfile.TemporaryDirectory() as tmp:
            where = args.keep or Path(tmp)
            where.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{where / 'bench.db'}"
            run("SQLite", url, args.items, args.rounds, reuse=args.keep is not None)
    if args.postgres_url and not args.sqlite_only:
        if args.postgres_schema:
            url = kept_schema(args.postgres_url, args.postgres_schema)
            run("PostgreSQL", url, args.items, args.rounds, reuse=True)
            return
        with scratch_schema(args.postgres_url, prefix="bench") as url:
            run("PostgreSQL", url, args.items, args.rounds)


def kept_schema(base_url: str, name: str) -> str:
    """The URL of schema ``name`` (created if missing) of the database at ``base_url``."""
    from sqlalchemy import create_engine, text

    engine = create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{name}"'))
    engine.dispose()
    sep = "&" if "?" in base_url else "?"
    return f"{base_url}{sep}options=-csearch_path%3D{name}"


if __name__ == "__main__":
    main()
