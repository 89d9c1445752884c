"""The analysts' workspace: server-rendered pages at ``/`` in the same Flask app.

* ``/``: the queue, newest first, filtered by labels, score, feed and time, searched;
* ``/items/<id>``: one item, its evidence highlighted, its labels to confirm, reject or add;
* ``/review``: the items the model is least sure of;
* ``/overview``: labels per hour and per day, and the feeds' health;
* ``/signin``: the API key (when ``WIRETAG_API_KEYS`` is set) and the analyst's name.

Templates are Jinja2 (``templates/``); the one script (``static/wiretag.js``) only adds
keyboard shortcuts, so every page works with scripts off.  See :mod:`service.web.auth`
for sessions and CSRF, :mod:`service.web.views` for the pages.
"""

from __future__ import annotations

from flask import Flask

from service.web import auth
from service.web.views import bp
from settings import Settings

__all__ = ["init_app"]


def init_app(app: Flask, settings: Settings) -> None:
    """Add the workspace to the service's app."""
    auth.configure(app, settings)
    app.register_blueprint(bp)
