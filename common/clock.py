"""The one clock: every timestamp wiretag writes or compares is aware and in UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, aware, in UTC (inject another :data:`Clock` in tests)."""
    return datetime.now(UTC)
