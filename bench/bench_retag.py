"""Re-tag throughput on SQLite and PostgreSQL: ``--items`` stored items (50,000 by
default) tagged by an "old" model, re-tagged by the shipped one in batches.

    .venv/bin/python bench/bench_retag.py [--items 50000] [--batch 500]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--sqlite-only]

The items are real RSS titles and descriptions (``../shared/unlabelled/``, recycled), all
marked as tagged by another model version; the run is :func:`poller.maintenance.retag`,
what ``python -m poller retag`` does (read a batch by id, classify it, write labels,
scores and item_scores in one transaction).  Reports items/s and where the time went.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "kit"))

from bench_workspace import UNLABELLED, texts  # noqa: E402
from storekit import scratch_schema  # noqa: E402

import model  # noqa: E402
from common.labels import LABELS  # noqa: E402
from poller.maintenance import retag  # noqa: E402
from store import FeedUpdate, NewItem, Store, open_store  # noqa: E402

FEEDS = 20
CHUNK = 2000


def fill(store: Store, n: int) -> None:
    """``n`` items, every one tagged attack by the model version "bench-old"."""
    now = datetime.now(UTC)
    feeds = [store.add_feed(f"https://feeds.example/{f}.xml").id for f in range(FEEDS)]
    old = {label: 0.5 for label in LABELS}
    every = texts()
    pool = [every[k % len(every)] for k in range(n)]
    for start in range(0, n, CHUNK):
        items = [
            NewItem(f"b{k}", None, t, s, now - timedelta(seconds=k), ["attack"], old, "bench-old")
            for k, (t, s) in enumerate(pool[start : start + CHUNK], start=start)
        ]
        update = FeedUpdate(now, now, 200, 0)
        store.record_fetch(feeds[(start // CHUNK) % FEEDS], "bench", update, items)


def run(name: str, url: str, n: int, batch: int, m: model.Model) -> None:
    """Fill, re-tag, report."""
    store = open_store(url)
    try:
        started = time.perf_counter()
        fill(store, n)
        print(f"{name}: {n} items stored in {time.perf_counter() - started:.1f} s", flush=True)
        classify = time.perf_counter()
        sample = store.stale_items(m.version, limit=batch)
        m.classify([model.Item(None, i.title, i.summary) for i in sample], explain=False)
        one_batch = time.perf_counter() - classify
        report = retag(store, m, max_chars=20_000, batch=batch)
        print(
            f"{name}: re-tagged {report.items} items ({report.changed} changed labels) in "
            f"{report.seconds:.1f} s = {report.items / report.seconds:,.0f} items/s "
            f"(batch {batch}; classifying one batch alone: {one_batch * 1000:.0f} ms, "
            f"i.e. {batch / one_batch:,.0f} items/s)",
            flush=True,
        )
    finally:
        store.close()


def main() -> None:
    """SQLite, then PostgreSQL when a URL is given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    if not UNLABELLED.is_file():
        sys.exit(f"needs {UNLABELLED} (../shared beside the checkout)")
    logging.basicConfig(level=logging.WARNING)  # retag's per-batch lines stay quiet
    m = model.load()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args.items, args.batch, m)
    if args.postgres_url and not args.sqlite_only:
        with scratch_schema(args.postgres_url, prefix="bench") as url:
            run("PostgreSQL", url, args.items, args.batch, m)


if __name__ == "__main__":
    main()
