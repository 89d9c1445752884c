"""Who may call the service: API keys compared in constant time, and a safe exposure rule."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Sequence

from service.errors import Unauthorized, UnsafeExposure

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def key_matches(token: str, keys: Sequence[str]) -> bool:
    """True if ``token`` equals one of ``keys``; every key is compared, in constant time."""
    given = token.encode("utf-8", "surrogatepass")
    matched = False
    for key in keys:
        # no early exit: the time taken does not say which key (or how much of one) matched
        matched |= hmac.compare_digest(given, key.encode("utf-8"))
    return matched


def require_key(authorization: str | None, keys: Sequence[str]) -> None:
    """Raise :class:`Unauthorized` unless the header carries one of ``keys``."""
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized("send the API key as 'Authorization: Bearer <key>'")
    if not key_matches(token, keys):
        raise Unauthorized("the API key is not valid")


def is_loopback(bind: str) -> bool:
    """True if a ``HOST:PORT`` bind address only listens on this machine."""
    host = bind.rpartition(":")[0].strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_exposure(binds: Iterable[str], api_keys: Sequence[str]) -> None:
    """Refuse to listen beyond loopback without API keys: an open classifier is a liability."""
    if api_keys:
        return
    exposed = [b for b in binds if not b.startswith("unix:") and not is_loopback(b)]
    if exposed:
        raise UnsafeExposure(
            f"refusing to listen on {', '.join(exposed)} without API keys: set "
            "WIRETAG_API_KEYS (comma-separated, 16+ characters each) or bind to 127.0.0.1"
        )
