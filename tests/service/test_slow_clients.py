"""Slow clients cannot starve the service: gunicorn as ``make run`` starts it, on 127.0.0.1.

256 connections trickle header lines or a body, a few bytes a second, while normal
classify requests come in; every normal request is answered, p99 within 50 ms.  (The
bench runs the same for 60 s and tabulates 0/16/64/256 slow connections.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_testkit import ONE_ITEM, Gunicorn

pytestmark = pytest.mark.slow
SLOW = 256
SECONDS = 8.0


class Tricklers:
    """``SLOW`` connections, half sending one header line a second, half a body byte-run."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run)

    def _open(self, slot: int) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        head = "POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        if slot % 2:
            head += "Content-Length: 100000\r\n\r\n"
        s.sendall(head.encode())
        return s

    def _run(self) -> None:
        deadline = time.monotonic() + SECONDS + 10  # bounded even if never stopped
        while not self.stop.wait(1.0) and time.monotonic() < deadline:
            for slot, s in enumerate(self.sockets):
                try:
                    s.sendall(b'{"title": "' if slot % 2 else b"X-Slow: 1\r\n")
                except OSError:  # dropped by the server (a head must come within 5 s)
                    s.close()
                    self.sockets[slot] = self._open(slot)

    def __enter__(self) -> Tricklers:
        self.sockets = [self._open(slot) for slot in range(SLOW)]
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        for s in self.sockets:
            s.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """gunicorn with the shipped gunicorn.conf.py and default settings."""
    g = Gunicorn(tmp_path_factory.mktemp("slow"))
    try:
        g.wait_ready()
        yield g
    finally:
        assert g.stop() == 0, g.log()


def test_normal_requests_are_answered_while_256_clients_trickle(server: Gunicorn) -> None:
    latencies: list[float] = []
    with Tricklers(server.port), httpx.Client(base_url=server.url, timeout=5) as client:
        time.sleep(1.5)  # every slow connection is in place and has sent something
        deadline = time.monotonic() + SECONDS - 2
        while time.monotonic() < deadline and len(latencies) < 2000:
            started = time.perf_counter()
            response = client.post("/v1/classify", json=ONE_ITEM)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            time.sleep(0.02)
    latencies.sort()
    assert len(latencies) >= 50
    p99 = latencies[int(0.99 * len(latencies))]
    assert p99 <= 0.050, f"p99 {p99 * 1000:.1f} ms over {len(latencies)} requests"


def _trickle_until_answered(port: int, head: bytes, line: bytes) -> tuple[float, bytes]:
    """Send ``head``, then ``line`` each second until the server answers (at most 15 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(head)
        started = time.monotonic()
        while time.monotonic() - started < 15:
            try:
                answer = s.recv(65536)
                return time.monotonic() - started, answer
            except TimeoutError:
                s.sendall(line)
    pytest.fail("no answer after 15 s of trickling")


def test_a_head_that_never_ends_is_answered_408_within_5_s(server: Gunicorn) -> None:
    took, answer = _trickle_until_answered(
        server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n"
    )
    assert 4.5 < took < 8
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"request_timeout"' in answer


def test_a_body_that_never_ends_is_answered_408_at_the_request_timeout(tmp_path: Path) -> None:
    g = Gunicorn(tmp_path, WIRETAG_REQUEST_TIMEOUT="3")
    try:
        g.wait_ready()
        head = (
            b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n"
        )
        took, answer = _trickle_until_answered(g.port, head, b'{"title": "')
        with httpx.Client(base_url=g.url, timeout=5) as client:  # the worker is fine
            assert client.post("/v1/classify", json=ONE_ITEM).status_code == 200
    finally:
        assert g.stop() == 0, g.log()
    assert 2.5 < took < 7
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"did not arrive within 3 s" in answer
