"""The one log format: JSON lines, or text for a terminal; extra fields in both."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import sys
from collections.abc import Iterator

import pytest

from common import logs


class Tty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def root_restored() -> Iterator[None]:
    """Put the root logger's handlers and level back after a test configures it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _record(exc: bool = False) -> logging.LogRecord:
    record = logging.LogRecord(
        "wiretag.test", logging.WARNING, __file__, 1, "feed %d failed", (7,), None
    )
    record.json_fields = {"status": 503, "request_id": "r1"}
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            record.exc_info = sys.exc_info()
    return record


def test_json_lines_carry_the_fields_and_the_traceback() -> None:
    entry = json.loads(logs.JsonFormatter().format(_record(exc=True)))
    assert entry["level"] == "warning" and entry["logger"] == "wiretag.test"
    assert entry["message"] == "feed 7 failed" and entry["status"] == 503
    assert entry["time"].endswith("+00:00") and "RuntimeError: boom" in entry["exc"]


def test_text_reads_as_a_line_with_key_value_pairs() -> None:
    line = logs.TextFormatter().format(_record())
    assert line.endswith(" WARNING wiretag.test: feed 7 failed status=503 request_id=r1")
    assert "\n" not in line
    with_exc = logs.TextFormatter().format(_record(exc=True))
    assert with_exc.splitlines()[-1] == "RuntimeError: boom"


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert logs.resolve("auto", Tty()) == "text"
    assert logs.resolve("auto", io.StringIO()) == "json"
    assert logs.resolve("json", Tty()) == "json" and logs.resolve("text", io.StringIO()) == "text"
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as real_tty:
            assert logs.resolve("auto", real_tty) == "text"
    finally:
        os.close(leader)
        os.close(follower)
    with pytest.raises(ValueError, match="auto, json, text"):
        logs.resolve("yaml")


def test_configure_routes_every_logger_once(root_restored: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    logs.configure("INFO", "json", first)
    logs.configure("INFO", "json", second)  # a second setup replaces the first handler
    logging.getLogger("wiretag.somewhere").info("hello", extra={"json_fields": {"n": 1}})
    logging.getLogger("wiretag.somewhere").debug("below the level")
    assert first.getvalue() == ""
    (line,) = second.getvalue().splitlines()
    assert json.loads(line)["message"] == "hello" and json.loads(line)["n"] == 1
