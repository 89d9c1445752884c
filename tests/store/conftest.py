"""Store fixtures: a real SQLite file, and PostgreSQL in a fresh schema when configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store import Store, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of an empty store: a SQLite file under tmp, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'sub' / 'wiretag.db'}"
        return
    yield request.getfixturevalue("pg_url")  # skips when PostgreSQL is not configured


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An opened, migrated store."""
    s = open_store(store_url)
    yield s
    s.close()
