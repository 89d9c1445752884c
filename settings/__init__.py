"""wiretag's settings: every ``WIRETAG_`` environment variable, read and validated once.

The service, the poller and the command line all call :func:`from_env` at start-up and
pass the resulting :class:`Settings` down; nothing else reads ``os.environ``.  A bad value
raises :class:`SettingsError` whose message names the variable, so start-up stops with a
line an operator can act on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from common.booleans import parse_bool
from common.labels import LABELS
from common.logs import FORMATS
from common.urls import UnsafeURL, split_url

PREFIX = "WIRETAG_"
SHIPPED_MODEL_DIR = Path(__file__).resolve().parent.parent / "model"

T = TypeVar("T")


class SettingsError(ValueError):
    """A ``WIRETAG_`` variable holds a value wiretag cannot use."""


@dataclass(frozen=True)
class Settings:
    """Every setting, with its embedded default; the README's configuration table."""

    # where things live
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: sqlite file under data_dir
    model_dir: Path = SHIPPED_MODEL_DIR
    feeds_file: Path = Path("feeds.opml")
    log_level: str = "INFO"
    log_format: str = "auto"  # json, text, or auto: text on a terminal, else json
    # the HTTP service
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    max_items: int = 256
    max_body_bytes: int = 1024 * 1024
    max_text_chars: int = 20_000
    request_timeout: int = 30
    # the poller
    poll_concurrency: int = 8
    poll_tick_seconds: float = 5.0
    default_interval_minutes: int = 15
    fetch_connect_timeout: float = 10.0
    fetch_read_timeout: float = 30.0
    max_feed_bytes: int = 15 * 1024 * 1024
    parse_timeout_seconds: float = 4.0
    parse_memory_mb: int = 112
    max_redirects: int = 5
    max_backoff_hours: float = 24.0
    lease_seconds: int = 300
    retention_days: int = 0  # 0: keep items forever; else delete them this many days old
    allow_private_networks: bool = False
    webhooks: dict[str, str] = field(default_factory=dict)
    webhook_secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # the workspace: signs its session cookies (empty: derived from the API keys)
    session_secret: str = field(default="", repr=False)

    @property
    def sqlalchemy_url(self) -> str:
        """The store's URL: the configured one, else a SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'wiretag.db').resolve()}"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (what tests hand to ``create_app``)."""
        return replace(self, **changes)


def _text(value: str) -> str:
    return value.strip()


def _path(value: str) -> Path:
    if not value.strip():
        raise ValueError("must not be empty")
    return Path(value.strip()).expanduser()


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be a whole number of at least 1")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a number above 0")
    return number


MAX_RETENTION_DAYS = 36_500


def _retention_days(value: str) -> int:
    number = int(value) if value.strip() else 0  # empty reads as unset: off
    if not 0 <= number <= MAX_RETENTION_DAYS:
        raise ValueError(f"must be 0 (keep forever) or 1 to {MAX_RETENTION_DAYS} days")
    return number


def _bool(value: str) -> bool:
    # an empty variable reads as unset: the setting's default, false
    return parse_bool(value) if value.strip() else False


def _keys(value: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in value.split(",") if k.strip())
    if any(len(k) < 16 for k in keys):
        raise ValueError("every key must be at least 16 characters long")
    return keys


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def _log_format(value: str) -> str:
    name = value.strip().lower()
    if name not in FORMATS:
        raise ValueError(f"must be {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    return name


def _bind(value: str) -> str:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT, such as 127.0.0.1:8000")
    return value.strip()


def _database_url(value: str) -> str:
    url = value.strip()
    if url and not url.startswith(("sqlite", "postgresql")):
        raise ValueError("must be a sqlite:/// or postgresql:// URL")
    if url.startswith("postgresql://"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; wiretag ships psycopg 3.
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _webhooks(value: str) -> dict[str, str]:
    """``label=url,label=url`` into a dict, refusing unknown labels and non-http URLs."""
    hooks: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        label, sep, url = part.partition("=")
        if not sep or label.strip() not in LABELS:
            raise ValueError(f"{part!r} is not LABEL=URL with LABEL one of {', '.join(LABELS)}")
        try:
            split_url(url)  # a URL no HTTP client can send to is refused here, not at delivery
        except UnsafeURL as exc:
            raise ValueError(str(exc)) from None
        hooks[label.strip()] = url.strip()
    return hooks


def _secret(value: str) -> str:
    secret = value.strip()
    if secret and len(secret) < 32:
        raise ValueError("must be at least 32 characters long (or empty)")
    return secret


MIN_SECRET = 32


def _webhook_secrets(value: str) -> dict[str, str]:
    """``label=secret,...`` into a dict; the messages never quote a secret."""
    secrets: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        label, sep, secret = (x.strip() for x in part.partition("="))
        if not sep or label not in LABELS:
            raise ValueError(
                f"every part must be LABEL=SECRET with LABEL one of {', '.join(LABELS)}"
            )
        if len(secret) < MIN_SECRET or any(c.isspace() for c in secret):
            raise ValueError(
                f"the secret for {label} must be {MIN_SECRET}+ characters without spaces "
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))' makes one)"
            )
        secrets[label] = secret
    return secrets


# Settings whose values are never repeated in a message (or a log line).
SECRET_SETTINGS = frozenset({"api_keys", "webhook_secrets", "session_secret"})


def _check_webhooks(values: Mapping[str, Any]) -> None:
    """Every webhook needs a secret to sign with, and every secret a webhook."""
    hooks, secrets = set(values.get("webhooks", {})), set(values.get("webhook_secrets", {}))
    if hooks - secrets:
        raise SettingsError(
            f"WIRETAG_WEBHOOK_SECRETS has no secret for the {', '.join(sorted(hooks - secrets))} "
            "webhook(s): every delivery is signed (see README, Webhooks)"
        )
    if secrets - hooks:
        raise SettingsError(
            f"WIRETAG_WEBHOOK_SECRETS has a secret for {', '.join(sorted(secrets - hooks))}, "
            "which WIRETAG_WEBHOOKS does not name"
        )


PARSERS: dict[str, Callable[[str], Any]] = {
    "data_dir": _path,
    "database_url": _database_url,
    "model_dir": _path,
    "feeds_file": _path,
    "log_level": _log_level,
    "log_format": _log_format,
    "bind": _bind,
    "workers": _positive_int,
    "api_keys": _keys,
    "max_items": _positive_int,
    "max_body_bytes": _positive_int,
    "max_text_chars": _positive_int,
    "request_timeout": _positive_int,
    "poll_concurrency": _positive_int,
    "poll_tick_seconds": _positive_float,
    "default_interval_minutes": _positive_int,
    "fetch_connect_timeout": _positive_float,
    "fetch_read_timeout": _positive_float,
    "max_feed_bytes": _positive_int,
    "parse_timeout_seconds": _positive_float,
    "parse_memory_mb": _positive_int,
    "max_redirects": _positive_int,
    "max_backoff_hours": _positive_float,
    "lease_seconds": _positive_int,
    "retention_days": _retention_days,
    "allow_private_networks": _bool,
    "webhooks": _webhooks,
    "webhook_secrets": _webhook_secrets,
    "session_secret": _secret,
}


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every ``WIRETAG_`` variable, validate it, and return the settings."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = PREFIX + f.name.upper()
        raw = env.get(name)
        if raw is None:
            continue
        try:
            values[f.name] = PARSERS[f.name](raw)
        except ValueError as exc:
            shown = "<hidden>" if f.name in SECRET_SETTINGS else repr(raw)
            raise SettingsError(f"{name}={shown}: {exc}") from None
    unknown = sorted(
        k
        for k in env
        if k.startswith(PREFIX)
        and not k.startswith(PREFIX + "TEST_")  # test-only variables, read by tests/
        and k[len(PREFIX) :].lower() not in PARSERS
    )
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)} (see README, Configuration)")
    _check_webhooks(values)
    return Settings(**values)
