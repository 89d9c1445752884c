"""gunicorn's logging in wiretag's one format (:mod:`common.logs`): its errors, the access
log and the app's own records, JSON lines or text alike."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from gunicorn import glogging

import settings as settings_module
from common import logs

# gunicorn's per-process chatter on every stop: each worker and the master's signal
# handler say so.  At DEBUG, a stop shows one line for the service ("Shutting down").
STOP_CHATTER = frozenset({"Handling signal: %s", "Worker exiting (pid: %s)"})


def _plain_name(record: logging.LogRecord) -> bool:
    """Show gunicorn's process messages as "gunicorn": most are not errors."""
    if record.name == "gunicorn.error":
        record.name = "gunicorn"
    return True


def _response_header(headers: Any, name: str) -> str | None:
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if key.lower() == name:
            return str(value)
    return None


class GunicornLogger(glogging.Logger):
    """gunicorn's logger in WIRETAG_LOG_FORMAT, with the root logger on the same stream."""

    def setup(self, cfg: Any) -> None:
        """Let gunicorn build its handlers, then give every one of them our formatter."""
        super().setup(cfg)
        name = settings_module.from_env().log_format
        formatter = logs.formatter(name)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(formatter)
                handler.addFilter(_plain_name)
        logs.configure(self.loglevel, name)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """As gunicorn's, with its stop chatter moved down to DEBUG."""
        level = logging.DEBUG if msg in STOP_CHATTER else logging.INFO
        self.error_log.log(level, msg, *args, **kwargs)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """One line per request: who, what, status, size, time, request id."""
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
