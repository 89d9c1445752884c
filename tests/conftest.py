"""Fixtures for the optional parts every test package may need, each skipping with one
reason when its part is absent: ../shared beside the checkout (CI has it; a user's clone
need not) and PostgreSQL (only when WIRETAG_TEST_POSTGRES_URL is set, as .ci/run does)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest runs in importlib mode (no sys.path games): put the test kit shared by every test
# package (and bench/) on the path; its module names are unique, so they shadow nothing.
sys.path.insert(0, str(Path(__file__).resolve().parent / "kit"))
from storekit import scratch_schema

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PG_ENV = "WIRETAG_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared: the labelled corpus and third-party feed fixtures."""
    if not SHARED.is_dir():
        pytest.skip(f"needs {SHARED} (the labelled corpus and feed fixtures; CI has it)")
    return SHARED


@pytest.fixture(scope="session")
def shared_data(shared: Path) -> Path:
    """../shared/data, the labelled real news."""
    return shared / "data"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for this test, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(
            f"needs PostgreSQL: set {PG_ENV}, e.g. "
            f"{PG_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/test (.ci/run does)"
        )
    with scratch_schema(base) as url:
        yield url
