"""Prometheus metrics, safe under gunicorn's several worker processes.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before anything
imports prometheus_client, so every process writes its samples to files there and
``/metrics`` adds them up across workers (dead workers' live gauges are dropped by the
``child_exit`` hook).  Without that variable (tests, ``flask run``) each app keeps its own
registry.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from itertools import chain
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from model import Result

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def multiprocess_dir() -> str | None:
    """The directory prometheus_client shares between processes, if one is set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


class Metrics:
    """The service's metrics, registered in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._label_children: dict[str, Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "wiretag_http_requests",
            "HTTP requests answered, by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "wiretag_http_request_duration_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.items = Counter("wiretag_items_classified", "Items classified.", registry=r)
        self.truncated = Counter(
            "wiretag_texts_truncated", "Items whose text was cut to the maximum.", registry=r
        )
        self.labels = Counter(
            "wiretag_labels_assigned", "Labels assigned to classified items.", ["label"], registry=r
        )
        self.reloads = Counter(
            "wiretag_model_reloads", "Model reloads, by outcome.", ["outcome"], registry=r
        )
        self.model_info = Gauge(
            "wiretag_model_info",
            "The model in service (value 1), by version and artifact sha256.",
            ["version", "sha256"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.surges = Gauge(
            "wiretag_surges",
            "Surges of new stories stored by the pollers, by label (read from the store).",
            ["label"],
            multiprocess_mode="livemax",
            registry=r,
        )

    def surges_stored(self, counts: dict[str, int]) -> None:
        """Set the surge gauge from the store's count per label (read at each scrape: the
        poller finds surges, this process only reports them)."""
        for label, count in counts.items():
            self.surges.labels(label).set(count)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (endpoint, method, status)
        children = self._children.get(key)
        if children is None:
            # labels() takes a lock and builds a key on every call: resolve each series once
            children = (
                self.requests.labels(endpoint, method, str(status)),
                self.latency.labels(endpoint),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_results(self, results: Sequence[Result], truncated: int) -> None:
        """Count classified items, cut texts and assigned labels."""
        self.items.inc(len(results))
        if truncated:
            self.truncated.inc(truncated)
        if len(results) == 1:  # one item (most requests): its labels, no counting
            counts: dict[str, int] = dict.fromkeys(results[0].labels, 1)
        else:
            counts = collections.Counter(chain.from_iterable(r.labels for r in results))
        for label, count in counts.items():  # one shared-memory write per label, not per item
            child = self._label_children.get(label)
            if child is None:
                child = self._label_children[label] = self.labels.labels(label)
            child.inc(count)

    def model_changed(self, old: tuple[str, str] | None, new: tuple[str, str]) -> None:
        """Point the info metric at the new (version, sha256)."""
        if old is not None and old != new:
            self.model_info.labels(*old).set(0)
        self.model_info.labels(*new).set(1)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, summed over workers when shared."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
