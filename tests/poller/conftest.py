"""Poller fixtures: a real threaded HTTP server on 127.0.0.1, a real SQLite store, the model."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest runs in importlib mode (no sys.path games), so put this folder on the path for
# the test modules' shared kit; its name is unique, so it shadows nothing.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from poller_testkit import FeedServer

from model import Model, load
from settings import Settings
from store import Store, open_store


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A running FeedServer on 127.0.0.1, stopped after the test."""
    server = FeedServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.closing.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def model() -> Model:
    """The shipped model, loaded once."""
    return load()


@pytest.fixture
def poll_settings(tmp_path: Path) -> Settings:
    """Settings for tests: loopback allowed, short timeouts, a SQLite file under tmp."""
    return Settings(
        data_dir=tmp_path / "data",
        allow_private_networks=True,
        fetch_connect_timeout=1.0,
        fetch_read_timeout=1.0,
        poll_concurrency=4,
        lease_seconds=60,
        feeds_file=tmp_path / "no-feeds.opml",
    )


@pytest.fixture
def store(poll_settings: Settings) -> Iterator[Store]:
    """A fresh SQLite store in tmp."""
    s = open_store(poll_settings.sqlalchemy_url)
    yield s
    s.close()


@pytest.fixture
def db_url(poll_settings: Settings) -> str:
    """The URL of the ``store`` fixture's database, for the test kit's direct counts."""
    return poll_settings.sqlalchemy_url
