"""wiretag's HTTP service: a Flask application factory, served by gunicorn.

    gunicorn -c gunicorn.conf.py 'service:create_app()'

Views only check input, call model/ or store/ and shape JSON; every error is JSON
(see :mod:`service.errors` for the exception tree).  The model is loaded once, before
gunicorn forks; the store is opened lazily in each worker, so the service classifies even
while the store is down (``/readyz`` says so).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any

import msgspec
from flask import Flask, Response, g, request

from model import Model
from service import api, errors, openapi, ops, web
from service.errors import ServiceError, UnsafeExposure
from service.fastpath import FastClassify, request_id
from service.metrics import Metrics
from service.security import check_exposure, require_key
from service.state import ModelSlot, ReloadOutcome, State, StoreSlot
from settings import Settings, SettingsError, from_env

__all__ = [
    "ServiceError",
    "UnsafeExposure",
    "attach_master",
    "create_app",
    "reload_model",
]


def _settings(config: Settings | Mapping[str, Any] | None) -> Settings:
    if config is None:
        return from_env()
    if isinstance(config, Settings):
        return config
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise SettingsError(f"unknown setting(s) in config: {', '.join(unknown)}")
    return replace(Settings(), **config)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the service: settings (from the environment unless given), model, routes."""
    settings = _settings(config)
    check_exposure([settings.bind], settings.api_keys)
    app = Flask(__name__, static_folder=None)
    # werkzeug's own cap, one byte above ours: a body of exactly the limit reads to its end,
    # and read_json counts (and refuses) anything longer itself
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep documented field order
    app.json.compact = True  # type: ignore[attr-defined]
    metrics = Metrics()
    state = State(
        settings=settings,
        metrics=metrics,
        models=ModelSlot(settings.model_dir, on_change=_info_updater(metrics)),
        store=StoreSlot(settings.sqlalchemy_url),
        openapi=msgspec.json.encode(openapi.build(settings)),
    )
    app.extensions["wiretag"] = state
    _install_hooks(app, state)
    errors.register(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(ops.bp)
    web.init_app(app, settings)
    # plain classify requests are answered before Flask's machinery (service.fastpath)
    app.wsgi_app = FastClassify(app.wsgi_app, state)  # type: ignore[method-assign]
    return app


def _info_updater(metrics: Metrics) -> Callable[[Model | None, Model], None]:
    """Keep the model info metric on the model in service."""

    def update(old: Model | None, new: Model) -> None:
        metrics.model_changed((old.version, old.sha256) if old else None, (new.version, new.sha256))

    return update


def _install_hooks(app: Flask, state: State) -> None:
    """Request ids, API keys and metrics around every request (closures: no proxy lookups)."""
    keys = state.settings.api_keys
    observe = state.metrics.observe_request

    @app.before_request
    def begin() -> None:
        req, ctx = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
        ctx.started = time.perf_counter()
        ctx.request_id = request_id(req.headers.get("X-Request-ID"))
        if keys and req.path.startswith("/v1/"):
            require_key(req.headers.get("Authorization"), keys)

    @app.after_request
    def finish(response: Response) -> Response:
        # one proxy lookup each: werkzeug's proxies cost more than the work done here
        req, ctx = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
        response.headers["X-Request-ID"] = ctx.request_id
        rule = req.url_rule.rule if req.url_rule else "unmatched"
        observe(rule, req.method, response.status_code, time.perf_counter() - ctx.started)
        return response


def reload_model(app: Flask) -> ReloadOutcome | None:
    """Reload the model of a wiretag app (gunicorn's ``on_reload`` hook calls this)."""
    state: State | None = app.extensions.get("wiretag")
    if state is None:
        return None
    return state.reload_model()


def attach_master(app: Flask, master_pid: int) -> None:
    """In a gunicorn worker: an HTTP reload also asks the master to reload every worker."""
    state: State | None = app.extensions.get("wiretag")
    if state is not None:
        state.notify_reload = lambda: os.kill(master_pid, signal.SIGHUP)
