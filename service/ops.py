"""Open endpoints for operators: liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response

from service.api import state
from service.errors import ApiError
from store import StoreError

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


def _model_check() -> dict[str, Any]:
    models = state().models
    last = models.last_reload
    return {
        "ok": True,  # a process without a model never starts, and a refused reload keeps the old
        "version": models.current.version,
        "sha256": models.current.sha256,
        "directory": str(models.directory),
        "last_reload": last.to_dict() if last else None,
    }


def _store_check() -> dict[str, Any]:
    try:
        state().store.get().ping()
    except (ApiError, StoreError) as exc:
        # the cause may name hosts and users: it goes to the log, not to this open endpoint
        log.warning(
            "readiness: the store does not answer", extra={"json_fields": {"error": str(exc)}}
        )
        return {"ok": False, "error": "the store does not answer (details in the service log)"}
    return {"ok": True}


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    """200 when the model is loaded and the store answers, else 503; details per check."""
    checks = {"model": _model_check(), "store": _store_check()}
    ready = all(check["ok"] for check in checks.values())
    return {"ready": ready, "checks": checks}, 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format, summed over gunicorn's workers."""
    body, content_type = state().metrics.render()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this service."""
    return Response(state().openapi, mimetype="application/json")
