"""Poller throughput and latency against a loopback server holding 1,000 feeds.

    .venv/bin/python bench/bench_poller.py [--feeds 1000] [--items 50]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

For each store (SQLite in a temporary directory; PostgreSQL in a fresh schema when a URL
is given by --postgres-url or WIRETAG_TEST_POSTGRES_URL) it measures, at the default
settings (8 fetches in flight):

* new:       every feed answers 200 with ``--items`` entries never seen before
             (fetch, parse, dedupe lookup, classify, store: the full path);
* unchanged: every feed answers 304 to the ETag it gave (fetch and one UPDATE).

``--stories both`` runs each store twice in one run, without and with story grouping
(signing, the index, the story rows), to show what grouping adds per item.

With ``--hostile`` it measures instead what hostile feeds cost (SQLite, connect timeout
2 s and read timeout 5 s, as in issue 11):

* tarpit:   a server that sends one header line every 2 s, 45 lines in all (90 s): how
            long the poll of that feed takes;
* escaped markup: a 13.5 MB feed (under the 15 MiB cap) whose entries are huge blobs of
            escaped markup, in two shapes (10 entries of 1.35 MB, one of 13.5 MB), polled
            beside an ordinary feed: the time of each feed's poll, the outcome, and the peak
            memory of the poller (its own RSS plus that of any child process, sampled every
            10 ms) above what it used before the poll.

Feeds/s is feeds polled divided by the wall time of ``Poller.run_once``.  Latency from an entry
appearing to it being stored and tagged is bounded by interval + tick + fetch-to-stored:
the poller only learns of the entry at the feed's next check (at most one interval away,
plus up to one tick before the loop notices the feed is due), then it is fetched,
classified and committed.  The benchmark measures the last part per feed, from the start
of its fetch to its commit (queueing for the single writer included), and prints the bound
at the default settings.  The feed server runs in its own process so that its work does
not share the poller's interpreter lock.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import socketserver
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "kit"))  # scratch_schema, count_items
sys.path.insert(0, str(REPO / "tests" / "poller"))  # the escaped-markup feed

from poller_testkit import escaped_markup_feed  # noqa: E402
from storekit import count_items, scratch_schema  # noqa: E402

from model import load  # noqa: E402
from poller.fetch import Response  # noqa: E402
from poller.poll import Fetched, Outcome, Poller  # noqa: E402
from settings import Settings  # noqa: E402
from store import Store, open_store  # noqa: E402

TOPICS = [
    "Militants attacked an army checkpoint with rockets, killing four soldiers",
    "Government forces retook the district after insurgents withdrew overnight",
    "Officials said the group is recruiting teenagers through encrypted channels",
    "Clerics issued a statement rejecting the group's propaganda videos",
    "The regional council approved a new budget for road repairs",
]


def real_texts(path: Path) -> list[tuple[str, str]]:
    """(title, summary) of every real RSS item of the file, escaped for XML."""
    out = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            out.append((escape(row["title"]), escape(row["text"][:1000])))
    return out


def feed_body(
    n: int, generation: int, items: int, texts: list[tuple[str, str]] | None = None
) -> bytes:
    """RSS for feed ``n``; every generation's entries are new.  Without ``texts`` the
    entries are five templates (every item a near-copy of a fifth of all items: the worst
    case for story grouping); with them, real RSS items in file order."""
    parts = [
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>",
        f"<title>Bench feed {n}</title><link>http://bench/{n}</link>",
    ]
    for i in range(items):
        if texts:
            title, summary = texts[((generation * 1000 + n) * items + i) % len(texts)]
        else:
            text = TOPICS[(n + i) % len(TOPICS)]
            title, summary = f"{text.split(',')[0]} (report {i})", f"{text}. Item {i} of feed {n}."
        parts.append(
            f"<item><guid isPermaLink='false'>bench-{n}-{generation}-{i}</guid>"
            f"<title>{title}</title>"
            f"<link>http://bench/{n}/{generation}/{i}</link>"
            f"<description>{escape(f'<p>{summary}</p>')}</description>"
            "<pubDate>Sun, 01 Mar 2026 10:00:00 GMT</pubDate></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def serve(port_out: Any, generation: Any, items: int, texts_file: Path | None = None) -> None:
    """The feed server process: /feed/N, ETag per (N, generation), 304 on a match."""
    cache: dict[tuple[int, int], tuple[bytes, str]] = {}
    texts = real_texts(texts_file) if texts_file else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            n = int(self.path.rsplit("/", 1)[1])
            key = (n, generation.value)
            if key not in cache:
                body = feed_body(n, generation.value, items, texts)
                cache[key] = (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')
            body, etag = cache[key]
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128  # each fetch opens its own connection
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.value = server.server_address[1]
    server.serve_forever()


class TimedPoller(Poller):
    """A Poller that records, per feed, the time from its fetch start to its commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started: dict[str, float] = {}
        self.to_stored: list[float] = []
        inner = self.fetch

        def timed_fetch(url: str, etag: str | None, last_modified: str | None) -> Response:
            self.started[url] = time.perf_counter()
            return inner(url, etag, last_modified)

        self.fetch = timed_fetch

    def ingest(self, fetched: Fetched) -> Outcome:
        outcome = super().ingest(fetched)
        self.to_stored.append(time.perf_counter() - self.started[fetched.feed.url])
        return outcome


def run_poll(
    store: Store, settings: Settings, model: Any, now: datetime, stories: bool = True
) -> dict[str, Any]:
    """One Poller.run_once over every due feed, timed (its housekeeping included)."""
    poller = TimedPoller(store, model, settings, now=lambda: now, stories=stories)
    began = time.perf_counter()
    outcomes = poller.run_once()
    elapsed = time.perf_counter() - began
    poller.close()
    errors = [o for o in outcomes if o.error]
    latencies = sorted(poller.to_stored)
    new_items = sum(o.new_items for o in outcomes)
    return {
        "feeds": len(outcomes),
        "errors": len(errors),
        "first_error": errors[0].error if errors else None,
        "new_items": new_items,
        "seconds": round(elapsed, 2),
        "wall_us_per_new_item": round(1e6 * elapsed / new_items, 1) if new_items else None,
        "feeds_per_s": round(len(outcomes) / elapsed, 1),
        "fetch_to_stored_p50_ms": round(1000 * statistics.median(latencies), 1),
        "fetch_to_stored_p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
        "statuses": sorted({o.status for o in outcomes}, key=str),
    }


def bench_store(
    url: str, args: argparse.Namespace, base_url: str, generation: Any, stories: bool = True
) -> dict:
    """New and unchanged rounds over ``args.feeds`` feeds in the store at ``url``."""
    settings = Settings(allow_private_networks=True)
    model = load(settings.model_dir)
    store = open_store(url)
    try:
        for n in range(args.feeds):
            store.add_feed(f"{base_url}/feed/{n}")
        now = datetime.now(UTC)
        generation.value = 1
        new = run_poll(store, settings, model, now, stories)
        later = now + timedelta(minutes=settings.default_interval_minutes + 1)
        unchanged = run_poll(store, settings, model, later, stories)
        generation.value = 2
        again = run_poll(store, settings, model, later + timedelta(minutes=16), stories)
        items = count_items(url)
    finally:
        store.close()
    return {"new": new, "unchanged": unchanged, "new_again": again, "items_stored": items}


# -- hostile feeds ----------------------------------------------------------------------

TARPIT_LINES, TARPIT_GAP = 45, 2.0


class _Tarpit(socketserver.BaseRequestHandler):
    """Reads a request, then sends one header line every TARPIT_GAP seconds."""

    def handle(self) -> None:
        self.request.recv(65536)
        try:
            self.request.sendall(b"HTTP/1.1 200 OK\r\n")
            for n in range(TARPIT_LINES):
                time.sleep(TARPIT_GAP)
                self.request.sendall(f"X-Slow-{n}: {n}\r\n".encode())
            body = feed_body(0, 0, 1)
            self.request.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass  # the poller hung up: what it should do


def serve_hostile(port_out: Any, tarpit_port_out: Any) -> None:
    """The hostile server process: /blob/<entries> escaped markup, /plain, and a tarpit."""
    blobs = {n: escaped_markup_feed(13_500_000, n) for n in (1, 10)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            name = self.path.rsplit("/", 1)[1]
            body = feed_body(7, 1, 50) if name == "plain" else blobs[int(name)]
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    socketserver.ThreadingTCPServer.daemon_threads = True
    tarpit = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Tarpit)
    tarpit_port_out.value = tarpit.server_address[1]
    threading.Thread(target=tarpit.serve_forever, daemon=True).start()
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.value = server.server_address[1]
    server.serve_forever()


def _tree_rss(pid: int, skip: int = 0) -> int:
    """RSS in bytes of process ``pid`` and its descendants but ``skip`` (Linux /proc)."""
    total = 0
    if pid == skip:
        return 0
    try:
        with open(f"/proc/{pid}/statm") as statm:
            total = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                total += sum(_tree_rss(int(child), skip) for child in children.read().split())
    except (FileNotFoundError, ProcessLookupError):
        pass  # a child that ended while we looked
    return total


class PeakRSS(threading.Thread):
    """Samples this process tree's RSS every 10 ms until stopped; ``peak`` in bytes."""

    def __init__(self, skip: int) -> None:
        super().__init__(daemon=True)
        self.skip = skip  # the feed server's process
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, _tree_rss(os.getpid(), self.skip))


def _poll_alone(urls: list[str], settings: Settings, model: Any, tmp: str, server_pid: int) -> dict:
    """Poll ``urls`` once in a fresh SQLite store; per-feed outcome and memory."""
    store = open_store(f"sqlite:///{tmp}/{len(os.listdir(tmp))}.db")
    try:
        for url in urls:
            store.add_feed(url)
        before = _tree_rss(os.getpid(), server_pid)
        sampler = PeakRSS(server_pid)
        sampler.start()
        began = time.perf_counter()
        poller = Poller(store, model, settings)
        try:
            outcomes = poller.run_once()
        finally:
            poller.close()
        elapsed = time.perf_counter() - began
        sampler.done.set()
        sampler.join()
    finally:
        store.close()
    return {
        "wall_s": round(elapsed, 2),
        "peak_mb_above_start": round(max(0, sampler.peak - before) / 2**20, 1),
        "start_mb": round(before / 2**20, 1),
        "feeds": {
            o.url.rsplit("/", 1)[1]: {
                "seconds": round(o.seconds, 2),
                "new_items": o.new_items,
                "error": o.error,
            }
            for o in outcomes
        },
    }


def bench_hostile() -> dict[str, Any]:
    """The tarpit and the escaped-markup feeds against the current poller code."""
    port, tarpit_port = mp.Value("i", 0), mp.Value("i", 0)
    server = mp.Process(target=serve_hostile, args=(port, tarpit_port), daemon=True)
    server.start()
    while not (port.value and tarpit_port.value):
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port.value}"
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp),
                allow_private_networks=True,
                fetch_connect_timeout=2.0,
                fetch_read_timeout=5.0,
            )
            model = load(settings.model_dir)
            tarpit = f"http://127.0.0.1:{tarpit_port.value}/tarpit"
            pid = server.pid or 0
            results["tarpit"] = _poll_alone([tarpit], settings, model, tmp, pid)
            results["plain_alone"] = _poll_alone([f"{base}/plain"], settings, model, tmp, pid)
            for entries in (10, 1):
                urls = [f"{base}/blob/{entries}", f"{base}/plain"]
                results[f"escaped_markup_{entries}"] = _poll_alone(urls, settings, model, tmp, pid)
    finally:
        server.terminate()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--postgres-url", default=os.environ.get("WIRETAG_TEST_POSTGRES_URL"))
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--hostile", action="store_true", help="tarpit and escaped markup only")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--real-text",
        action="store_true",
        help="entries are real RSS items from ../shared (else five templates: near-copies)",
    )
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument(
        "--stories",
        choices=["on", "off", "both"],
        default="on",
        help="group items into stories (the default), not, or both in turn in one run",
    )
    args = parser.parse_args()
    if args.hostile:
        results = bench_hostile()
        out = args.out or REPO / "bench" / "results" / "poller_hostile.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(json.dumps(results, indent=2))
        return 0
    args.out = args.out or REPO / "bench" / "results" / "poller.json"

    port, generation = mp.Value("i", 0), mp.Value("i", 1)
    texts_file = (
        args.shared / "unlabelled" / "google_news_rss_2017.jsonl" if args.real_text else None
    )
    server = mp.Process(target=serve, args=(port, generation, args.items, texts_file), daemon=True)
    server.start()
    while not port.value:
        time.sleep(0.01)
    base_url = f"http://127.0.0.1:{port.value}"
    results: dict[str, Any] = {
        "feeds": args.feeds,
        "items_per_feed": args.items,
        "texts": "real RSS items" if args.real_text else "five templates",
        "cpus": os.cpu_count(),
    }
    try:
        modes = {"on": [True], "off": [False], "both": [False, True]}[args.stories]
        for grouping in modes:
            suffix = "" if len(modes) == 1 else ("+stories" if grouping else "-stories")
            if not args.skip_sqlite:
                with tempfile.TemporaryDirectory() as tmp:
                    url = f"sqlite:///{tmp}/bench.db"
                    results["sqlite" + suffix] = bench_store(
                        url, args, base_url, generation, grouping
                    )
            if args.postgres_url:
                with scratch_schema(args.postgres_url, "wt_bench") as url:
                    results["postgresql" + suffix] = bench_store(
                        url, args, base_url, generation, grouping
                    )
    finally:
        server.terminate()
    defaults = Settings()
    worst_tail = max(
        r["new"]["fetch_to_stored_p95_ms"]
        for k, r in results.items()
        if isinstance(r, dict) and "new" in r
    )
    results["latency_bound_s"] = {
        "interval_s": defaults.default_interval_minutes * 60,
        "tick_s": defaults.poll_tick_seconds,
        "fetch_to_stored_p95_s": worst_tail / 1000,
        "worst_case_s": round(
            defaults.default_interval_minutes * 60 + defaults.poll_tick_seconds + worst_tail / 1000,
            1,
        ),
        "mean_s": round(
            defaults.default_interval_minutes * 30
            + defaults.poll_tick_seconds / 2
            + worst_tail / 1000,
            1,
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
