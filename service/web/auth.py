"""Who is using the workspace: sign-in, the signed session cookie, and CSRF tokens.

With ``WIRETAG_API_KEYS`` set, the workspace asks once for a key and the analyst's name
and keeps them in Flask's signed session cookie (HttpOnly, SameSite=Strict, Secure when
the request came over https); the cookie carries a fingerprint of the key, never the key,
so removing a key from the settings signs out whoever used it.  Without keys (a service
on loopback) the pages are open and the name is asked for before the first correction.

The cookie's signing secret is ``WIRETAG_SESSION_SECRET`` when set.  Otherwise it is
derived from the API keys (HMAC-SHA256), so every gunicorn worker, every machine sharing
the keys and every restart agree on it, and rotating the keys ends every session.  With
neither, a random secret is drawn when the app is built: gunicorn preloads the app, so
its workers share it; a restart signs everyone out, which costs only a name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from flask import Flask, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request

from service.security import key_matches
from settings import Settings

SESSION_HOURS = 12
CSRF_FIELD = "csrf"
MAX_NAME = 100


SESSIONLESS = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json")


class WorkspaceSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure exactly when the request came over https."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """The workspace's session for its pages; none for the JSON API and the operators'
        endpoints, which never use it (verifying a cookie on each API call cost about a
        third of an API request's own work).  Flask opens the session before it routes the
        request, hence the paths."""
        if request.path.startswith(SESSIONLESS):
            return None  # Flask then uses its null session, which refuses any write
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure over https (a plain-http loopback service would never get it back)."""
        return bool(request.is_secure) or super().get_cookie_secure(app)


def session_secret(settings: Settings) -> bytes:
    """The key that signs session cookies (see the module docstring for the choice)."""
    if settings.session_secret:
        return settings.session_secret.encode()
    if settings.api_keys:
        material = "\n".join(sorted(settings.api_keys)).encode()
        return hmac.new(material, b"wiretag workspace session", hashlib.sha256).digest()
    return secrets.token_bytes(32)


def configure(app: Flask, settings: Settings) -> None:
    """Signed sessions for the workspace: secret, cookie flags, lifetime."""
    app.secret_key = session_secret(settings)
    app.session_interface = WorkspaceSessions()
    app.config.update(
        SESSION_COOKIE_NAME="wiretag_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )


def fingerprint(key: str) -> str:
    """A short digest that names a key without revealing it."""
    return hashlib.sha256(b"wiretag key " + key.encode()).hexdigest()[:24]


def signed_in(keys: Sequence[str]) -> bool:
    """True when no key is required, or the session holds a key that is still valid."""
    if not keys:
        return True
    held = session.get("key")
    return isinstance(held, str) and any(hmac.compare_digest(held, fingerprint(k)) for k in keys)


def analyst() -> str | None:
    """The signed-in analyst's name, if one was given."""
    name = session.get("analyst")
    return name if isinstance(name, str) and name else None


def clean_name(raw: str) -> str:
    """An analyst's name as recorded: spaces collapsed; ValueError if empty or too long."""
    name = " ".join(raw.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValueError(f"give your name (1 to {MAX_NAME} printable characters)")
    return name


def sign_in(name: str, key: str | None, keys: Sequence[str]) -> None:
    """Start a fresh session for ``name``; ValueError naming what is wrong."""
    if keys and (not key or not key_matches(key.strip(), keys)):
        raise ValueError("that key is not one of this service's API keys")
    session.clear()  # a new session: nothing carried over from before sign-in
    session.permanent = True
    session["analyst"] = clean_name(name)
    if keys and key:
        session["key"] = fingerprint(key.strip())
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_ok(form: Any) -> bool:
    """True if the form carries this session's CSRF token."""
    sent, held = form.get(CSRF_FIELD, ""), session.get(CSRF_FIELD)
    return isinstance(held, str) and hmac.compare_digest(str(sent), held)


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site (no scheme, no host), else ``default``:
    a sign-in or a form must never send the analyst to another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(c in target for c in "\r\n\\") or not target.isprintable():
        return default
    return target
