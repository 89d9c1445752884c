"""JSON log lines: one object per line for the app, gunicorn's errors and its access log."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from gunicorn import glogging


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; ``extra={"json_fields": {...}}`` adds keys."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (the traceback, if any, under ``exc``)."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "json_fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _response_header(headers: Any, name: str) -> str | None:
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if key.lower() == name:
            return str(value)
    return None


class GunicornLogger(glogging.Logger):
    """gunicorn's logger with JSON lines, and the root logger wired to the same stream."""

    def setup(self, cfg: Any) -> None:
        """Let gunicorn build its handlers, then make every one of them write JSON."""
        super().setup(cfg)
        formatter = JsonFormatter()
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(formatter)
        _route_root_logger(formatter, self.loglevel)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """One JSON line per request: who, what, status, size, time, request id."""
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields = {
            "remote": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("RAW_URI"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "request_id": _response_header(resp.headers, "x-request-id"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        self.access_log.info("request", extra={"json_fields": fields})


class _RootHandler(logging.StreamHandler):
    """Marks the handler wiretag put on the root logger, so a config reload replaces it."""


def _route_root_logger(formatter: logging.Formatter, level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _RootHandler):
            root.removeHandler(handler)
    handler = _RootHandler(sys.stderr)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
