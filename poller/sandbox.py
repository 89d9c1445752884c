"""Parsing with a budget: each feed is parsed in a worker process, within a time and a
memory limit, so that a pathological feed costs its own poll and nothing more.

feedparser is pure Python on a 15 MiB body: a feed built to be slow (a 13.5 MB blob of
escaped markup took 19-68 s and up to 270 MB in the poller itself) would hold a fetch
thread, the interpreter lock every other feed needs, and the poller's memory.  Here a
:class:`ParserPool` hands the body to one of its worker processes (``python -m
poller.sandbox``) and waits at most ``seconds`` for the answer; past that it kills the
worker and the feed gets :class:`ParseBudgetExceeded`.  A worker's address space is capped
(``RLIMIT_AS``) at its size after start-up plus ``memory_bytes``, so a parse that needs more
fails with MemoryError inside the worker, never in the poller.  Workers are started as
needed, up to one per fetch thread, and kept for the next feed; the answer comes back as
JSON (never pickle: the worker has just read hostile input).

Frames on the pipes: 8 bytes (two big-endian uint32: head and body length), then the head
(JSON) and the body.  Request head ``{"url", "headers"}``, body the feed bytes; answer
head ``{"feed": ...}`` or ``{"error": ..., "kind": "not_a_feed" | "memory"}``.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any

from poller.errors import ParseBudgetExceeded, ParserFailed
from poller.parse import Entry, NotAFeed, ParsedFeed, parse_feed

_FRAME = struct.Struct(">II")


# -- the wire format ---------------------------------------------------------------------


def encode_feed(feed: ParsedFeed) -> dict[str, Any]:
    """A ParsedFeed as JSON-ready data."""
    return {
        "title": feed.title,
        "skipped": feed.skipped,
        "bozo_reason": feed.bozo_reason,
        "entries": [
            [
                e.key,
                e.guid,
                e.link,
                e.title,
                e.summary,
                e.published_at and e.published_at.isoformat(),
            ]
            for e in feed.entries
        ],
    }


def decode_feed(data: Mapping[str, Any]) -> ParsedFeed:
    """The ParsedFeed :func:`encode_feed` described."""
    entries = [
        Entry(key, guid, link, title, summary, datetime.fromisoformat(at) if at else None)
        for key, guid, link, title, summary, at in data["entries"]
    ]
    return ParsedFeed(data["title"], entries, data["skipped"], data["bozo_reason"])


def write_frame(stream: IO[bytes], head: Mapping[str, Any], body: bytes = b"") -> None:
    """Send one frame and flush it."""
    encoded = json.dumps(head).encode()
    stream.write(_FRAME.pack(len(encoded), len(body)) + encoded)
    stream.write(body)
    stream.flush()


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    """``size`` bytes from ``fd``; TimeoutError past ``deadline``, EOFError if it closes."""
    parts, left = [], size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(fd: int, deadline: float | None = None) -> tuple[dict[str, Any], bytes]:
    """One frame's head and body (see :func:`_read_exact` for the errors)."""
    head_size, body_size = _FRAME.unpack(_read_exact(fd, _FRAME.size, deadline))
    head = json.loads(_read_exact(fd, head_size, deadline))
    return head, _read_exact(fd, body_size, deadline)


# -- the parent side ---------------------------------------------------------------------


class _Worker:
    """One ``python -m poller.sandbox`` process."""

    def __init__(self, memory_bytes: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "poller.sandbox", str(memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def parse(self, body: bytes, headers: Mapping[str, str], url: str, deadline: float) -> Any:
        """Send one feed and wait for its answer until ``deadline``."""
        assert self.process.stdin is not None and self.process.stdout is not None
        write_frame(self.process.stdin, {"url": url, "headers": dict(headers)}, body)
        head, _ = read_frame(self.process.stdout.fileno(), deadline)
        return head

    def stop(self) -> None:
        """End the process now (it may be in the middle of a parse)."""
        self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


class ParserPool:
    """Parses feeds in worker processes, each parse within ``seconds`` and ``memory_bytes``.

    Shared by the poller's fetch threads: each call takes an idle worker (or starts one),
    so a slow parse holds only its own worker.
    """

    def __init__(self, *, seconds: float = 4.0, memory_bytes: int = 112 * 2**20) -> None:
        self.seconds, self.memory_bytes = seconds, memory_bytes
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def __call__(self, body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
        """Parse like :func:`parse_feed`; ParseBudgetExceeded past the budget."""
        worker = self._take()
        try:
            head = worker.parse(body, headers, url, time.monotonic() + self.seconds)
        except TimeoutError:
            worker.stop()
            raise ParseBudgetExceeded(f"parsing took longer than {self.seconds:g} s") from None
        except (EOFError, OSError, ValueError) as exc:  # died, or answered nonsense
            worker.stop()
            raise ParserFailed(f"the parser process failed: {_death(worker, exc)}") from None
        if head.get("kind") == "memory":  # it exits after saying so
            worker.stop()
            raise ParseBudgetExceeded(f"parsing needed more than {self.memory_bytes // 2**20} MiB")
        self._give_back(worker)
        return _answer(head)

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Worker(self.memory_bytes)

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

    def close(self) -> None:
        """Stop the idle workers (call once the fetch threads are done)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


def _death(worker: _Worker, exc: Exception) -> str:
    code = worker.process.returncode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}" if code is not None else f"{type(exc).__name__}: {exc}"


def _answer(head: Mapping[str, Any]) -> ParsedFeed:
    """The worker's answer as a ParsedFeed, or the NotAFeed it reported."""
    if "feed" in head:
        return decode_feed(head["feed"])
    raise NotAFeed(str(head.get("error") or "not a feed"))


# -- the worker side ---------------------------------------------------------------------


def _cap_memory(extra: int) -> None:
    """Cap the address space at its present size plus ``extra`` bytes (Linux)."""
    try:
        with open("/proc/self/status") as status:
            size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    except (OSError, StopIteration):
        return  # no /proc: no cap, the time budget still holds
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, size + extra))


def _handle(head: Mapping[str, Any], body: bytes) -> dict[str, Any]:
    """Parse one request's feed: the answer's head."""
    try:
        return {"feed": encode_feed(parse_feed(body, head["headers"], head["url"]))}
    except NotAFeed as exc:
        return {"error": str(exc), "kind": "not_a_feed"}


def serve(memory_bytes: int) -> int:
    """The worker's loop: parse each feed sent on stdin, answer on stdout, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the poller's to handle
    # A fetch thread started us with the stop signals blocked (poller.poll), and a child
    # inherits that mask: a parser process takes SIGTERM like any other process.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    # The answers get a private copy of stdout; anything else printed goes to stderr and
    # cannot break a frame.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _cap_memory(memory_bytes)
    stdin = sys.stdin.buffer.fileno()
    while _serve_one(stdin, stdout):
        pass
    return 0


def _serve_one(stdin: int, stdout: IO[bytes]) -> bool:
    """Parse one feed and answer; False at EOF, or after running out of memory."""
    try:
        write_frame(stdout, _handle(*read_frame(stdin)))
        return True
    except EOFError:
        return False
    except MemoryError:  # reading, parsing, or encoding what it found
        pass  # leaving the handler drops its traceback, and the parse's memory with it
    write_frame(stdout, {"error": "out of memory", "kind": "memory"})
    return False  # a fresh worker takes the next feed


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))
