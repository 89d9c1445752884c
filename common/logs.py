"""One log format for every wiretag process: JSON lines, or readable text on a terminal.

The service (its app, gunicorn and the access log) and the poller log through
:func:`configure`, so ``make run`` shows one format.  ``WIRETAG_LOG_FORMAT`` picks it:
``json`` (one object per line, what a log collector reads), ``text`` (for people), or
``auto`` (the default): text when stderr is a terminal, else JSON.  A record's
``extra={"json_fields": {...}}`` become keys in JSON and ``key=value`` pairs in text.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("auto", "json", "text")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(getattr(record, "json_fields", {}))


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, fields, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (the traceback, if any, under ``exc``)."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """A record as one readable line: UTC time, level, logger, message, ``key=value``s."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as text (a traceback, if any, on the lines below)."""
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        line = f"{moment} {record.levelname:<7} {record.name}: {record.getMessage()}"
        pairs = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{line} {pairs}" if pairs else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def resolve(name: str, stream: TextIO | None = None) -> str:
    """``json`` or ``text`` for a WIRETAG_LOG_FORMAT value (``auto``: text on a terminal)."""
    if name not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    if name != "auto":
        return name
    stream = stream or sys.stderr
    return "text" if hasattr(stream, "isatty") and stream.isatty() else "json"


def formatter(name: str, stream: TextIO | None = None) -> logging.Formatter:
    """The formatter a WIRETAG_LOG_FORMAT value calls for on ``stream`` (stderr)."""
    return TextFormatter() if resolve(name, stream) == "text" else JsonFormatter()


class _RootHandler(logging.StreamHandler):
    """Marks the handler wiretag put on the root logger, so a second setup replaces it."""


def configure(level: str | int, name: str = "auto", stream: TextIO | None = None) -> None:
    """Send every logger's records at ``level`` and above to ``stream`` (stderr) as ``name``."""
    stream = stream or sys.stderr
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _RootHandler):
            root.removeHandler(handler)
    handler = _RootHandler(stream)
    handler.setFormatter(formatter(name, stream))
    root.addHandler(handler)
    root.setLevel(level)
