"""schemathesis against a live gunicorn with stored items and API keys set (bounded, fixed).

Two runs of the CLI, deterministic (fixed generation, no randomness) and bounded by
example counts (about 25 s each here) and a subprocess timeout:

1. every check but one: no server error, every answer and status as documented, and every
   request the document forbids (negative cases) refused with a 4xx;
2. the document as strict as the server: schema-valid requests accepted (main's
   hand-written document failed this at once: it allowed ``{}`` as an item), for the
   operations whose answer depends only on the
   request.  Three depend on more than any schema can state, and are left out of this run
   only: ``POST /v1/feeds`` (the URL's host must resolve, to public addresses),
   ``GET /v1/items`` and ``GET /v1/stories`` (a cursor must be one this service gave out).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from service_testkit import KEY, Gunicorn

from store import FeedUpdate, Grouping, NewItem, NewSurge, open_store

pytestmark = pytest.mark.slow
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
# One worker thread: CPython 3.11 before 3.11.8 (this venv's is 3.11.7) keeps the AST
# constructor's recursion depth in interpreter-wide state, so two threads running
# ast.parse at once (hypothesis describes each filter lambda with it) can fail with
# "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905, fixed
# by GH-113035, in 3.11 by GH-113476). With "--workers 2" it failed 3 runs of 3 on main,
# in the coverage and the stateful phases alike, whatever the service answered; with
# one worker 3 of 3 passed (20-35 s). Back to 2 once the interpreter is 3.11.8 or later.
BOUNDS = ["--generation-deterministic", "-n", "25", "--workers", "1"]


def _stock(data_dir: Path) -> None:
    """A feed with a few tagged items, so the read endpoints have something to page."""
    store = open_store(f"sqlite:///{data_dir / 'wiretag.db'}")
    now = datetime.now(UTC).replace(microsecond=0)
    feed = store.add_feed("http://127.0.0.1/fuzzed-feed")
    update = FeedUpdate(
        checked_at=now, next_check_at=now + timedelta(minutes=15), status=200, error_count=0
    )
    scores = {"territorial_loss": 0.1, "attack": 0.9, "recruitment": 0.0, "counter_propaganda": 0}
    items = [
        NewItem(
            f"k{n}",
            f"https://example.org/{n}",
            f"item {n}",
            "summary",
            now - timedelta(hours=n),
            ["attack"],
            scores,
            "test",
            grouping=Grouping(f"story{n % 3}", bytes(512), "test-scheme"),
        )
        for n in range(8)
    ]
    store.record_fetch(feed.id, "test", update, items)  # three stories
    store.record_surges([NewSurge("attack", now.replace(minute=0, second=0), 9, 1.2, 1e-5)], now)
    store.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """gunicorn with keys, loopback feeds allowed, and stored items."""
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "data").mkdir()
    _stock(tmp / "data")
    g = Gunicorn(tmp, WIRETAG_API_KEYS=KEY, WIRETAG_ALLOW_PRIVATE_NETWORKS="true")
    try:
        g.wait_ready()
        yield g
    finally:
        assert g.stop() == 0, g.log()


def _run(live: Gunicorn, tmp_path: Path, *options: str) -> None:
    done = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{live.url}/openapi.json",
            "-H",
            f"Authorization: Bearer {KEY}",
            "--no-color",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            *BOUNDS,
            *options,
        ],
        cwd=tmp_path,  # its report directory and example database stay in the test's tmp
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "generated" in done.stdout


def test_the_document_holds_for_everything_the_fuzzer_sends(live: Gunicorn, tmp_path: Path) -> None:
    _run(live, tmp_path, "--checks", "all", "--exclude-checks", "positive_data_acceptance")
    assert "Traceback" not in live.log()


def test_what_the_document_allows_is_accepted(live: Gunicorn, tmp_path: Path) -> None:
    _run(
        live,
        tmp_path,
        "--checks",
        "positive_data_acceptance,not_a_server_error",
        "--exclude-operation-id",
        "addFeed",
        "--exclude-operation-id",
        "listItems",
        "--exclude-operation-id",
        "listStories",
    )
