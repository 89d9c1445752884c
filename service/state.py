"""What one service process holds: the model in service and a lazily opened store."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import model
from common.clock import utcnow
from model import Model, ModelError
from service.errors import Unavailable
from service.metrics import Metrics
from settings import Settings
from store import Store, StoreError, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadOutcome:
    """What the last reload attempt did: the model it put in service, or why it refused."""

    ok: bool
    at: datetime
    version: str | None = None
    error: str | None = None


class ModelSlot:
    """The model in service, replaced whole on reload so each request sees one model."""

    def __init__(
        self,
        directory: Path,
        *,
        loader: Callable[[Path], Model] = model.load,
        on_change: Callable[[Model | None, Model], None] | None = None,
    ) -> None:
        self.directory = directory
        self._load = loader
        self._on_change = on_change
        self._lock = threading.Lock()
        self.current: Model = loader(directory)
        self.last_reload: ReloadOutcome | None = None
        if on_change:
            on_change(None, self.current)

    def reload(self) -> ReloadOutcome:
        """Load the directory again; on refusal keep the old model and record why."""
        with self._lock:  # two reloads at once would race to set ``current``
            try:
                fresh = self._load(self.directory)
            except ModelError as exc:
                self.last_reload = ReloadOutcome(False, utcnow(), error=str(exc))
                log.warning(
                    "model reload refused; the old model keeps serving",
                    extra={"json_fields": {"error": str(exc), "serving": self.current.version}},
                )
                return self.last_reload
            old, self.current = self.current, fresh
            self.last_reload = ReloadOutcome(True, utcnow(), fresh.version)
        log.info(
            "model reloaded", extra={"json_fields": {"old": old.version, "new": fresh.version}}
        )
        if self._on_change:
            self._on_change(old, fresh)
        return self.last_reload


@dataclass
class StoreSlot:
    """The store, opened on first use in each process (never before gunicorn forks)."""

    url: str
    opener: Callable[[str], Store] = open_store
    _store: Store | None = None
    _pid: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> Store:
        """The open store; raise :class:`Unavailable` if it cannot be opened now."""
        store, pid = self._store, os.getpid()
        if store is not None and self._pid == pid:
            return store
        with self._lock:
            if self._store is None or self._pid != pid:
                # a store inherited across fork shares sockets with the parent: open anew
                self._store, self._pid = self._open(), pid
            return self._store

    def _open(self) -> Store:
        try:
            return self.opener(self.url)
        except StoreError as exc:  # logged where it is answered, with the request id
            raise Unavailable("the store is not available", code="store_unavailable") from exc

    def close(self) -> None:
        """Close the store if this process opened it."""
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store = None


@dataclass
class State:
    """Everything the views need, kept in ``app.extensions["wiretag"]``."""

    settings: Settings
    metrics: Metrics
    models: ModelSlot
    store: StoreSlot
    openapi: bytes
    notify_reload: Callable[[], None] | None = None

    def reload_model(self) -> ReloadOutcome:
        """Reload the model directory (refusals keep the old model) and count the outcome."""
        outcome = self.models.reload()
        self.metrics.reloads.labels("ok" if outcome.ok else "refused").inc()
        return outcome
