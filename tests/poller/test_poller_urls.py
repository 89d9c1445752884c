"""Feed URLs reach globally routable unicast addresses only: when a feed is added, at each
fetch and at every redirect hop (issue 11.2), whatever forms an internal address takes."""

from __future__ import annotations

import ipaddress
import re

import pytest
from poller_testkit import FeedServer, poll_once, redirect
from storekit import count_items

from common.urls import IPAddress, UnsafeURL, check_feed_url, refusal
from model import Model
from poller.feeds import add_feed
from poller.fetch import Fetcher
from settings import Settings
from store import Store

# (address, what the refusal says): every range issue 11 found getting through, each of
# its edges, and IPv4 internals carried inside IPv6 (6to4, Teredo, NAT64, IPv4-mapped).
INTERNAL = [
    ("100.64.0.0", "a shared (carrier-grade NAT) address"),
    ("100.100.100.200", "a shared (carrier-grade NAT) address"),  # cloud metadata
    ("100.127.255.255", "a shared (carrier-grade NAT) address"),
    ("2002:7f00:1::", "a loopback address (127.0.0.1 in 6to4 form)"),
    ("2002:a9fe:a9fe::1", "a link-local address (169.254.169.254 in 6to4 form)"),
    ("2002:6464:64c8::", "a shared (carrier-grade NAT) address (100.100.100.200 in 6to4 form)"),
    ("fec0::1", "a site-local address"),
    ("feff:ffff::1", "a site-local address"),
    ("3fff::1", "a documentation address"),
    ("3fff:fff:ffff::1", "a documentation address"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "a loopback address (127.0.0.1 in Teredo form)"),
    ("2001:0:a00:1::a247:27cb", "a private address (10.0.0.1 in Teredo server form)"),
    ("64:ff9b::7f00:1", "a loopback address (127.0.0.1 in NAT64 form)"),
    ("64:ff9b::a9fe:a9fe", "a link-local address (169.254.169.254 in NAT64 form)"),
    ("64:ff9b:1::a00:1", "a local-use NAT64 address"),
    ("::ffff:100.100.100.200", "a shared (carrier-grade NAT) address (100.100.100.200 in"),
    ("::ffff:10.0.0.1", "a private address (10.0.0.1 in IPv4-mapped form)"),
    ("2001:db8::1", "a documentation address"),
    ("5f00::1", "a segment-routing (SRv6) address"),
]
# Global unicast, also when it travels inside IPv6: these stay allowed.
PUBLIC = [
    "93.184.216.34",
    "2606:2800:220:1:248:1893:25c8:1946",
    "100.128.0.1",  # just past 100.64.0.0/10
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    "64:ff9b::5db8:d822",  # DNS64 on an IPv6-only network synthesises these
    "::ffff:93.184.216.34",
    "2001:0:4136:e378:8000:63bf:a247:27cb",  # Teredo of 93.184.216.34 (client bits inverted)
]


def _resolves_to(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(("address", "says"), INTERNAL)
def test_an_internal_address_is_refused_when_a_feed_is_added(address: str, says: str) -> None:
    with pytest.raises(UnsafeURL, match=re.escape(f"resolves to {address}, {says}")):
        check_feed_url("https://feeds.example.org/rss", resolve=_resolves_to(address))
    # a host that resolves to a public address and an internal one is refused too
    with pytest.raises(UnsafeURL, match=re.escape(says)):
        check_feed_url("https://x.example/", resolve=_resolves_to("93.184.216.34", address))


@pytest.mark.parametrize("address", PUBLIC)
def test_a_global_unicast_address_is_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None
    assert check_feed_url("http://x.example/rss", resolve=_resolves_to(address))


def _all_but_the_test_server(address: IPAddress) -> str | None:
    """The real refusal, except for the test server's own address."""
    return None if address == ipaddress.ip_address("127.0.0.1") else refusal(address)


def _literal(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"[{ip}]" if ip.version == 6 else str(ip)


@pytest.mark.parametrize(("address", "says"), INTERNAL[::2])
def test_an_address_literal_is_refused_by_the_cli_path(
    address: str, says: str, store: Store
) -> None:
    with pytest.raises(UnsafeURL, match=re.escape(says)):
        add_feed(store, f"http://{_literal(address)}:8080/feed", allow_private=False)
    assert store.count_feeds() == 0


@pytest.mark.parametrize(("address", "says"), INTERNAL)
def test_an_internal_address_is_refused_at_every_redirect_hop(
    address: str,
    says: str,
    feed_server: FeedServer,
    store: Store,
    db_url: str,
    model: Model,
    poll_settings: Settings,
) -> None:
    # The first hop is the test server, trusted as if it were public; the redirect aims at
    # the internal address and must be refused before any connection.
    feed_server.routes["/feed"] = redirect(f"http://{_literal(address)}/latest/meta-data")
    feed = store.add_feed(feed_server.url("/feed"))
    fetch = Fetcher(connect_timeout=1, read_timeout=1, refuse=_all_but_the_test_server)
    try:
        (outcome,) = poll_once(store, model, poll_settings, fetch=fetch)
    finally:
        fetch.close()
    assert outcome.error is not None and says in outcome.error, outcome.error
    assert feed_server.hits["/feed"] == 1 and count_items(db_url, feed.id) == 0
    stored = store.get_feed(feed.id)
    assert stored is not None and stored.error_count == 1 and stored.last_error == outcome.error


def test_an_internal_address_is_refused_at_each_fetch(
    store: Store, model: Model, poll_settings: Settings
) -> None:
    stored = [store.add_feed(f"http://{_literal(a)}/feed") for a, _ in INTERNAL]
    strict = poll_settings.with_overrides(allow_private_networks=False)
    outcomes = {o.feed_id: o for o in poll_once(store, model, strict)}
    for feed, (_, says) in zip(stored, INTERNAL, strict=True):
        assert outcomes[feed.id].error is not None and says in outcomes[feed.id].error
        assert outcomes[feed.id].status is None


def test_a_host_name_with_an_empty_label_is_refused_before_any_lookup() -> None:
    with pytest.raises(UnsafeURL, match="empty or overlong label"):
        check_feed_url("http://a..b/rss", resolve=_resolves_to("93.184.216.34"))
