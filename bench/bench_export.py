"""Exporting 200,000 stored items as CSV and as JSON lines through a real gunicorn.

    .venv/bin/python bench/bench_export.py [--items 200000] [--keep DIR]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Fills a SQLite store (or, with ``--postgres-url``, a fresh PostgreSQL schema as well) with
``--items`` real RSS items the way bench/bench_workspace.py does, starts gunicorn with
one worker (WIRETAG_REQUEST_TIMEOUT=600, so that the deadline does not cut the stream),
and downloads ``GET /v1/items?format=csv`` and ``?format=jsonl`` with httpx, reading the
stream as it comes.  Reports items/s, MB/s and the worker's peak RSS (VmHWM) before and
after each download: a streamed export should not raise it with the number of items.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "kit"))
sys.path.insert(0, str(REPO / "tests" / "service"))
sys.path.insert(0, str(REPO / "bench"))

import httpx  # noqa: E402
from bench_workspace import UNLABELLED, analyze, fill  # noqa: E402
from service_testkit import Gunicorn  # noqa: E402
from storekit import scratch_schema  # noqa: E402

from store import open_store  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def download(url: str, fmt: str) -> tuple[int, int, float]:
    """(lines, bytes, seconds) of one streamed export."""
    started = time.perf_counter()
    size = lines = 0
    with httpx.stream("GET", f"{url}/v1/items?format={fmt}", timeout=600) as answer:
        assert answer.status_code == 200, answer.status_code
        for piece in answer.iter_raw():
            size += len(piece)
            lines += piece.count(b"\n")
    return lines, size, time.perf_counter() - started


def measure(store_name: str, tmp: Path, n: int, database_url: str = "") -> None:
    """Serve the store with one gunicorn worker and time both exports."""
    env = {"WIRETAG_WORKERS": "1", "WIRETAG_REQUEST_TIMEOUT": "600"}
    if database_url:
        env["WIRETAG_DATABASE_URL"] = database_url
    g = Gunicorn(tmp, **env)
    try:
        g.wait_ready()
        (worker,) = g.workers()
        httpx.get(f"{g.url}/v1/items?limit=10", timeout=30)  # warm: imports, first query
        for fmt in ("csv", "jsonl"):
            before = peak_rss_mb(worker)
            lines, size, seconds = download(g.url, fmt)
            after = peak_rss_mb(worker)
            items = n if fmt == "jsonl" else lines - 1  # csv: the header (line breaks in
            # summaries are quoted, so lines overcount; the item count is n)
            print(
                f"{store_name} {fmt:>5}: {n} items in {seconds:.1f} s = {n / seconds:,.0f} items/s, "
                f"{size / 1e6:.0f} MB at {size / 1e6 / seconds:.1f} MB/s; worker peak RSS "
                f"{before:.0f} MB before, {after:.0f} MB after ({items} lines)",
                flush=True,
            )
    finally:
        g.stop()


def main() -> None:
    """Fill, serve and download."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the SQLite file here")
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    if not UNLABELLED.is_file():
        sys.exit(f"needs {UNLABELLED} (../shared beside the checkout)")
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        (where / "data").mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{where / 'data' / 'wiretag.db'}"
        store = open_store(url)
        if not store.list_items(limit=1)[0]:
            print(f"SQLite: {args.items} items stored in {fill(store, args.items):.0f} s")
        store.close()
        measure("SQLite", where, args.items)
        if args.postgres_url:
            with scratch_schema(args.postgres_url, prefix="bench") as pg:
                store = open_store(pg)
                print(f"PostgreSQL: {args.items} items stored in {fill(store, args.items):.0f} s")
                store.close()
                analyze(pg)
                measure("PostgreSQL", Path(tmp), args.items, database_url=pg)


if __name__ == "__main__":
    os.environ.pop("WIRETAG_TEST_POSTGRES_URL", None)
    main()
