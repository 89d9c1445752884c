"""Real gunicorn on 127.0.0.1 with a temporary SQLite file, spoken to over HTTP.

Covers what only a real server shows: preloading and forked workers, metrics summed over
processes, streamed bodies, JSON logs, the start-up refusals, and model reloads (HTTP and
SIGHUP) while requests are in flight, with a tampered model refused.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_testkit import (
    KEY,
    ONE_ITEM,
    REPO,
    Gunicorn,
    clean_environ,
    copy_model,
    free_port,
    tamper,
    write_new_version,
)

import model

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One gunicorn for the read-only tests: keys on, a small body limit, and a metrics
    directory of its own holding a stale file from an earlier run."""
    tmp = tmp_path_factory.mktemp("gunicorn")
    (tmp / "prom").mkdir()
    (tmp / "prom" / "counter_4242.db").write_bytes(b"left over by a crashed run")
    g = Gunicorn(
        tmp,
        WIRETAG_API_KEYS=KEY,
        WIRETAG_MAX_BODY_BYTES="20000",
        PROMETHEUS_MULTIPROC_DIR=str(tmp / "prom"),
    )
    try:
        g.wait_ready()
        yield g
    finally:
        assert g.stop() == 0, g.log()


def test_it_classifies_over_http(server: Gunicorn) -> None:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
        response = client.post(
            "/v1/classify", json=ONE_ITEM, headers={"X-Request-ID": "over-http-1"}
        )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "over-http-1"
    body = response.json()
    shipped = json.loads((model.SHIPPED_DIR / model.CARD_NAME).read_text())
    assert body["model"]["version"] == shipped["version"]
    assert "attack" in body["results"][0]["labels"]
    wait_until(lambda: len(server.workers()) == 2, what="two workers")


def test_keys_and_open_paths_over_http(server: Gunicorn) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/v1/classify", json=ONE_ITEM).status_code == 401
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert (server.tmp / "data" / "wiretag.db").is_file()  # the SQLite file, made on first use


def test_errors_over_http(server: Gunicorn) -> None:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
        bad = client.post(
            "/v1/classify", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
        chunks = [b'{"title": "x", "text": "', *[b"y" * 1000] * 40, b'"}']
        streamed = client.post(
            "/v1/classify", content=iter(chunks), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "body_too_large"
        small = [b'{"title": "x", "text": "', b"y" * 5000, b'"}']
        ok = client.post(
            "/v1/classify", content=iter(small), headers={"Content-Type": "application/json"}
        )
        assert ok.status_code == 200
        assert client.get("/nowhere").json()["error"]["code"] == "not_found"


def test_metrics_add_up_over_workers(server: Gunicorn) -> None:
    def classify_count(text: str) -> float:
        prefix = 'wiretag_http_requests_total{endpoint="/v1/classify",method="POST",status="200"} '
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(lines[0].removeprefix(prefix)) if lines else 0.0

    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
        before = classify_count(client.get("/metrics").text)
        for _ in range(40):
            assert client.post("/v1/classify", json=ONE_ITEM).status_code == 200
        text = client.get("/metrics").text
    assert classify_count(text) == before + 40
    assert "wiretag_model_info{" in text
    # the given directory is used, and was emptied of the stale file at start
    files = {p.name for p in (server.tmp / "prom").iterdir()}
    assert "counter_4242.db" not in files
    assert any(name.startswith("counter_") for name in files)


def test_logs_are_json_lines(server: Gunicorn) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.get("/healthz", headers={"X-Request-ID": "log-line-check"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = [e for e in server.access_log() if e.get("request_id") == "log-line-check"]
        if entries:
            break
        time.sleep(0.1)
    assert entries and entries[0]["status"] == 200 and entries[0]["path"] == "/healthz"
    errors = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert any(e["message"].startswith("Booting worker") for e in errors)


# -- start-up refusals -----------------------------------------------------------------


def _run_to_exit(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return subprocess.run(
        [gunicorn, "-c", "gunicorn.conf.py", *extra, "service:create_app()"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_open_bind_without_keys_does_not_start() -> None:
    done = _run_to_exit(clean_environ(WIRETAG_BIND=f"0.0.0.0:{free_port()}"))
    assert done.returncode != 0
    assert "refusing to listen on 0.0.0.0" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_open_bind_from_the_command_line_without_keys_does_not_start() -> None:
    port = free_port()
    done = _run_to_exit(clean_environ(WIRETAG_BIND=f"127.0.0.1:{port}"), "-b", f"0.0.0.0:{port}")
    assert done.returncode != 0
    assert "refusing to listen on 0.0.0.0" in done.stderr


def test_a_bad_setting_stops_start_up_naming_the_variable() -> None:
    done = _run_to_exit(clean_environ(WIRETAG_WORKERS="zero"))
    assert done.returncode != 0
    assert "WIRETAG_WORKERS" in done.stderr
    assert "Traceback" not in done.stderr


# -- model swap under load -------------------------------------------------------------


class Load:
    """A bounded stream of classify requests from a few threads, each with its own client."""

    def __init__(self, url: str, threads: int = 4, max_each: int = 3000) -> None:
        self.url = url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.versions: list[str] = []
        self.failures: list[str] = []
        self.max_each = max_each
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=20) as client:
            for _ in range(self.max_each):
                if self.stop.is_set():
                    return
                try:
                    response = client.post("/v1/classify", json=ONE_ITEM)
                    ok = response.status_code == 200
                    outcome = response.json()["model"]["version"] if ok else response.text
                except httpx.HTTPError as exc:
                    ok, outcome = False, repr(exc)
                with self.lock:
                    (self.versions if ok else self.failures).append(outcome)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def count(self) -> int:
        """Requests answered with 200 so far."""
        with self.lock:
            return len(self.versions)


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``check`` until it holds (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def all_workers_show(url: str, check: Callable[[dict[str, Any]], bool], path: str) -> bool:
    """True if 12 fresh answers in a row pass ``check`` (so every worker does)."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        for _ in range(12):
            if path == "/v1/classify":
                response = client.post(path, json=ONE_ITEM)
            else:
                response = client.get(path)
            if response.status_code not in (200, 503) or not check(response.json()):
                return False
    return True


def test_model_swaps_under_load_fail_no_request(tmp_path: Path) -> None:
    model_dir = copy_model(tmp_path / "model")
    shipped = json.loads((model_dir / model.CARD_NAME).read_text())["version"]
    scratch = tmp_path / "scratch"  # TMPDIR: where gunicorn.conf.py makes its metrics directory
    scratch.mkdir()
    g = Gunicorn(
        tmp_path, WIRETAG_API_KEYS=KEY, WIRETAG_MODEL_DIR=str(model_dir), TMPDIR=str(scratch)
    )
    try:
        g.wait_ready()
        with Load(g.url) as load:
            wait_until(lambda: load.count() >= 50, what="the load to start")

            # 1. a new model, loaded by POST /v1/model/reload: every worker moves to it
            second = write_new_version(model_dir, "2099-01-01-second")
            with httpx.Client(base_url=g.url, headers=AUTH, timeout=30) as client:
                reloaded = client.post("/v1/model/reload")
            assert reloaded.status_code == 200, reloaded.text
            assert reloaded.json()["model"]["version"] == second
            wait_until(
                lambda: all_workers_show(
                    g.url, lambda b: b["model"]["version"] == second, "/v1/classify"
                ),
                what="every worker to serve the reloaded model",
            )
            mark = load.count()

            # 2. another, loaded by SIGHUP to the master
            third = write_new_version(model_dir, "2099-02-02-third")
            g.process.send_signal(signal.SIGHUP)
            wait_until(
                lambda: all_workers_show(
                    g.url, lambda b: b["model"]["version"] == third, "/v1/classify"
                ),
                what="every worker to serve the model loaded on SIGHUP",
            )
            wait_until(lambda: load.count() >= mark + 50, what="requests during the swaps")

            # 3. a tampered model is refused, over HTTP and on SIGHUP; the last good one serves
            tamper(model_dir)
            with httpx.Client(base_url=g.url, headers=AUTH, timeout=30) as client:
                refused = client.post("/v1/model/reload")
            assert refused.status_code == 409
            assert refused.json()["error"]["code"] == "model_refused"
            g.process.send_signal(signal.SIGHUP)

            def refusal_shown(body: dict[str, Any]) -> bool:
                model_check = body["checks"]["model"]
                last = model_check["last_reload"]
                return model_check["version"] == third and last is not None and last["ok"] is False

            wait_until(
                lambda: all_workers_show(g.url, refusal_shown, "/readyz"),
                what="every worker to report the refusal",
            )
            assert all_workers_show(g.url, lambda b: b["model"]["version"] == third, "/v1/classify")
            mark = load.count()
            wait_until(lambda: load.count() >= mark + 50, what="requests after the refusal")
        assert load.failures == [], load.failures[:5]
        assert {shipped, second, third} <= set(load.versions)
        assert "model reload refused" in g.log()
        assert [p.name[:16] for p in scratch.iterdir()] == ["wiretag-metrics-"]
    finally:
        assert g.stop() == 0, g.log()
    assert list(scratch.iterdir()) == []  # the master removed the directory it made


# -- gunicorn's own refusals -------------------------------------------------------------


def raw_exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-Many-%d: 1\r\n" % i for i in range(120))
            + b"\r\n",
            431,
            "headers_too_large",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
            431,
            "headers_too_large",
        ),
        (b"GARBAGE\r\n\r\n", 400, "bad_request"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400, "bad_request"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /elsewhere\r\n\r\n",
            400,
            "bad_request",
        ),
    ],
)
def test_gunicorn_refusals_are_json(
    server: Gunicorn, request_bytes: bytes, status: int, code: str
) -> None:
    got, headers, body = raw_exchange(server.port, request_bytes)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["error"]["code"] == code and answer["error"]["message"]
    assert answer["request_id"] == headers["x-request-id"]
