"""Store fixtures: a real SQLite file, and PostgreSQL in a fresh schema when configured."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from store import Store, open_store, scratch_schema

PG_ENV = "WIRETAG_TEST_POSTGRES_URL"
PG_HOWTO = (
    f"PostgreSQL tests need {PG_ENV}, e.g. "
    f"{PG_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/test (CI sets it)"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of an empty store: a SQLite file under tmp, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'sub' / 'wiretag.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_HOWTO)
    with scratch_schema(base) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An opened, migrated store."""
    s = open_store(store_url)
    yield s
    s.close()
