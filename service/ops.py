"""Open endpoints for operators: liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import logging

from flask import Blueprint, Response

from service import schema
from service.api import answer, outcome, state
from service.errors import ApiError
from store import StoreError

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)


HEALTHY = schema.Health(status="ok")
REFUSED = "the model was refused (the reason is in the service log and the reload answer)"


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers."""
    return answer(HEALTHY)


def _model_check() -> schema.ModelCheck:
    models = state().models
    last = outcome(models.last_reload) if models.last_reload else None
    if last is not None and last.error is not None:
        # the reason names files of the model directory: not for an open endpoint
        last = schema.ReloadOutcome(ok=last.ok, at=last.at, version=last.version, error=REFUSED)
    # ok: a process without a model never starts, and a refused reload keeps the old one
    return schema.ModelCheck(
        ok=True, version=models.current.version, sha256=models.current.sha256, last_reload=last
    )


def _store_check() -> schema.StoreCheck:
    try:
        state().store.get().ping()
    except (ApiError, StoreError) as exc:
        # the cause may name hosts and users: it goes to the log, not to this open endpoint
        log.warning(
            "readiness: the store does not answer", extra={"json_fields": {"error": str(exc)}}
        )
        return schema.StoreCheck(
            ok=False, error="the store does not answer (details in the service log)"
        )
    return schema.StoreCheck(ok=True)


@bp.get("/readyz")
def readyz() -> Response:
    """200 when the model is loaded and the store answers, else 503; details per check."""
    checks = schema.Checks(model=_model_check(), store=_store_check())
    ready = checks.model.ok and checks.store.ok
    return answer(schema.Readiness(ready=ready, checks=checks), 200 if ready else 503)


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format, summed over gunicorn's workers."""
    s = state()
    try:
        s.metrics.surges_stored(s.store.get().surge_counts())
    except (ApiError, StoreError) as exc:  # the other metrics still answer
        log.warning(
            "metrics: the store does not answer", extra={"json_fields": {"error": str(exc)}}
        )
    body, content_type = s.metrics.render()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this service."""
    return Response(state().openapi, mimetype="application/json")
