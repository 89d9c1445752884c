"""Which feed URLs wiretag may fetch: http(s) to public addresses only.

A feed URL comes from a user, so fetching it must not become a way into the machine's own
network (SSRF).  :func:`check_feed_url` is applied when a feed is added and again, through
:func:`resolve_public`, before every fetch and every redirect hop, because DNS answers can
change between the two.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class UnsafeURL(ValueError):
    """A feed URL wiretag refuses to fetch (scheme, host or the addresses it resolves to)."""


class UnresolvableHost(UnsafeURL):
    """The URL's host does not resolve (now): nothing to connect to."""


def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, through the system resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IPAddress) -> str | None:
    """Why an address is not a public one, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped)
    for reason, flagged in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flagged:
            return reason
    return None


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; UnsafeURL for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"{url!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise UnsafeURL(f"{url!r} is not an http(s) URL")
    if not parts.hostname:
        raise UnsafeURL(f"{url!r} has no host")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def resolve_public(
    url: str, allow_private: bool = False, resolve: Resolver = system_resolve
) -> list[str]:
    """The addresses to connect to for ``url``; UnsafeURL if any of them is not public."""
    _, host, port = split_url(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise UnresolvableHost(f"{host} does not resolve")
    if not allow_private:
        for text in addresses:
            reason = refusal(ipaddress.ip_address(text.split("%")[0]))
            if reason:
                raise UnsafeURL(
                    f"{host} resolves to {text}, a {reason} address; "
                    "set WIRETAG_ALLOW_PRIVATE_NETWORKS=true to allow it"
                )
    return addresses


def normalise(url: str) -> str:
    """Lower-case scheme and host, drop the fragment and a default port."""
    parts = urlsplit(url.strip())
    scheme, host, port = split_url(url)
    netloc = host if ":" not in host else f"[{host}]"
    if parts.port is not None and port != (443 if scheme == "https" else 80):
        netloc = f"{netloc}:{port}"
    if parts.username or parts.password:
        raise UnsafeURL(f"{url!r} carries credentials; wiretag does not store them")
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def check_feed_url(
    url: str, allow_private: bool = False, resolve: Resolver = system_resolve
) -> str:
    """The normalised URL if wiretag may fetch it; UnsafeURL with the reason otherwise."""
    normalised = normalise(url)
    resolve_public(normalised, allow_private, resolve)
    return normalised
