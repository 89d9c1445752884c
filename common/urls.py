"""Which feed URLs wiretag may fetch: http(s) to globally routable unicast addresses only.

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


# Not globally reachable, though ``is_global`` passes some of them: its table differs
# between the Pythons wiretag supports and lags IANA's registries (3.13.0 still passes
# 3fff::/20 and fec0::/10), and every version must refuse the same addresses.
_NOT_GLOBAL = tuple(
    (reason, ipaddress.ip_network(network))
    for reason, network in (
        ("shared (carrier-grade NAT)", "100.64.0.0/10"),  # 100.100.100.200: cloud metadata
        ("documentation", "3fff::/20"),
        ("documentation", "2001:db8::/32"),
        ("local-use NAT64", "64:ff9b:1::/48"),
        ("segment-routing (SRv6)", "5f00::/16"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are the IPv4


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address stands for, with the form that carries each."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(("IPv4-mapped", address.ipv4_mapped))
    if address.sixtofour is not None:
        found.append(("6to4", address.sixtofour))
    if address.teredo is not None:
        server, client = address.teredo
        found += [("Teredo", client), ("Teredo server", server)]
    if address in _NAT64:
        found.append(("NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)))
    return found


def _named(address: IPAddress) -> str | None:
    """The name of the non-global range ``address`` is in, or None."""
    for reason, network in _NOT_GLOBAL:
        if address.version == network.version and address in network:
            return reason
    for reason, flagged in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("reserved", address.is_reserved),
    ):
        if flagged:
            return reason
    if address.is_private:
        return "private"
    return None if address.is_global else "non-global"


def refusal(address: IPAddress) -> str | None:
    """Why wiretag may not connect to ``address`` (globally routable unicast only), or None.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64) is judged
    by the IPv4 address it reaches: ``[2002:7f00:1::]`` is 127.0.0.1 in 6to4 form.
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        for form, ipv4 in inner:
            reason = _named(ipv4)
            if reason:
                return f"{_a(reason)} address ({ipv4} in {form} form)"
        if inner:
            return None
    reason = _named(address)
    return f"{_a(reason)} address" if reason else None


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


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
    try:
        parts.hostname.encode("idna")  # what every HTTP client does with it first
    except UnicodeError:
        raise UnsafeURL(f"{url!r} has a host name with an empty or overlong label") from None
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def resolve_public(
    url: str,
    allow_private: bool = False,
    resolve: Resolver = system_resolve,
    refuse: Callable[[IPAddress], str | None] = refusal,
) -> list[str]:
    """The addresses to connect to for ``url``; UnsafeURL if ``refuse`` objects to any."""
    _, host, port = split_url(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise UnresolvableHost(f"{host} does not resolve")
    if not allow_private:
        for text in addresses:
            reason = refuse(ipaddress.ip_address(text.split("%")[0]))
            if reason:
                raise UnsafeURL(
                    f"{host} resolves to {text}, {reason}; "
                    "set WIRETAG_ALLOW_PRIVATE_NETWORKS=true to allow it"
                )
    return addresses


def normalise(url: str) -> str:
    """Lower-case scheme and host, drop the fragment and a default port."""
    scheme, host, port = split_url(url)  # first: UnsafeURL for what urlsplit cannot read
    parts = urlsplit(url.strip())
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
