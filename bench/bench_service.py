"""Load benchmark of the HTTP service, against an empty Flask endpoint served the same way.

    .venv/bin/python bench/bench_service.py                         # this checkout
    .venv/bin/python bench/bench_service.py --baseline ../main      # and main's, same run
    .venv/bin/python bench/bench_service.py --mlserver              # and MLServer
    .venv/bin/python bench/bench_service.py --quick                 # a few seconds a figure

For this checkout (and, with ``--baseline``, another one, its own gunicorn.conf.py and
code), it starts gunicorn serving wiretag (``service:create_app()``) and gunicorn serving
an empty Flask endpoint that parses the JSON body and returns a constant
(``bench_service:empty_app()``), with the same config, worker class and count.  Runs
alternate over all servers, so a change in the machine's load weighs on each alike:

* req/s, p50/p99 and worker CPU per request of ``POST /v1/classify`` with one RSS item, and
  the empty endpoint's (the ratio of the two);
* items/s of batches of 100 RSS items, with evidence and with ``?explain=false``, in as
  many alternated rounds as the single items (medians; each run is in the JSON);
* the slow-client table: normal requests (20 a second) while 0/16/64/256 connections
  trickle header lines or a body (60 s a row by default): answered, failed, p50/p99;
* microseconds per classify request in process (Flask, no HTTP), with the real model and
  with a stub that returns the real model's results at no cost: the service's own share;
* with ``--mlserver``: MLServer (and mlserver-sklearn, installed by this script into
  ``bench/.mlserver-venv``) serving the same pipeline's predict_proba, single items and
  batches of 100, running alongside and measured in the same alternated rounds, against
  wiretag's items/s with evidence;
* with ``--stub``: single items on wiretag with a stub model (the real model's answer at
  no cost) against the empty endpoint, so the service's own share of the ratio shows;
* memory per worker, and an optional long load (``--load-seconds``).

The results go to stdout as JSON, a human summary to stderr.  The load generator is
``wrk`` (``apt-get install wrk``); without it a bounded Python client is used, whose own
CPU use then weighs on the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"

# One RSS entry: a headline and a summary of the size feeds carry (about 400 characters).
RSS_ITEM = {
    "id": "rss-1",
    "title": "Militants seize town as army retreats from the northern province",
    "summary": (
        "Fighters captured the town after government forces withdrew overnight, residents "
        "said, while a suicide bomber killed 12 people at a checkpoint on the road to the "
        "provincial capital. The group claimed the attack in a statement on its news agency. "
        "Officials said reinforcements were being sent and promised to retake the town."
    ),
    "url": "https://example.org/news/1",
}


def empty_app() -> Any:
    """The baseline: a Flask endpoint that parses the JSON body and returns a constant."""
    from flask import Flask, request

    app = Flask("empty", static_folder=None)

    @app.post("/v1/classify")
    def classify() -> dict[str, bool]:
        request.get_json()
        return {"ok": True}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def stub_app() -> Any:
    """wiretag with a stub model that answers the real model's results for the bench item at
    no cost: served the same way, it shows what the service itself costs per request."""
    from service import create_app

    app = create_app()
    state = app.extensions["wiretag"]
    real, cached = state.models.current, {}

    class Stub:
        version, sha256 = real.version, real.sha256

        def classify(self, items: Any, explain: bool = True, **options: Any) -> Any:
            key = (len(items), explain)
            if key not in cached:
                cached[key] = real.classify(items, explain=explain, **options)
            return cached[key]

    state.models.current = Stub()
    return app


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running gunicorn: its master pid and the URL it answers on."""

    name: str
    process: subprocess.Popen[bytes]
    url: str

    def worker_pids(self) -> list[int]:
        """The master's children (gunicorn's workers)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the workers (robust to a busy machine)."""
        total = 0
        for pid in self.worker_pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")


def timed_load(
    server: Server, url: str, body: bytes, connections: int, seconds: float, threads: int
) -> Load:
    """run_load, also noting the workers' CPU time per request and the client's."""
    cpu, client = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    load = run_load(url, body, connections, seconds, threads)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime) - (client.ru_utime + client.ru_stime)
    if load.requests:
        load.server_cpu_us = 1e6 * (server.cpu_seconds() - cpu) / load.requests
        # wrk runs as a child process; the Python client's CPU is this process's own
        load.client_cpu_us = 1e6 * used / load.requests if load.tool == "wrk" else None
    return load


@contextmanager
def serve(
    name: str, app: str, env: dict[str, str], log_dir: Path, extra: list[str], root: Path = ROOT
) -> Iterator[Server]:
    """Start gunicorn for ``app`` with the config of the checkout at ``root`` (its code first
    on the path); stop it (SIGTERM) afterwards."""
    port = free_port()
    env = {**env, "WIRETAG_BIND": f"127.0.0.1:{port}", "PYTHONPATH": str(root)}
    errors = (log_dir / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [
            str(GUNICORN),
            "-c",
            str(root / "gunicorn.conf.py"),
            "--pythonpath",
            str(ROOT / "bench"),
            *extra,
            app,
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,  # the access log: one JSON line per request
        stderr=errors,
    )
    server = Server(name, process, f"http://127.0.0.1:{port}")
    try:
        wait_until_up(server, port)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors.close()


def wait_until_up(server: Server, port: int, timeout: float = 60.0) -> None:
    """Poll /healthz until it answers 200, or fail if gunicorn exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name}: gunicorn exited with {server.process.returncode}")
        try:
            status, _ = raw_request(port, "GET", "/healthz", b"", timeout=2.0)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{server.name}: not up after {timeout} s")


def raw_request(
    port: int, method: str, path: str, body: bytes, timeout: float = 10.0
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a fresh connection (what gunicorn's sync workers serve)."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    data = b"".join(chunks)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.partition(b"\r\n\r\n")[2]


@dataclass
class Load:
    """The outcome of one load run."""

    target: str
    connections: int
    seconds: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    tool: str
    details: dict[str, Any] = field(default_factory=dict)
    server_cpu_us: float | None = None  # worker CPU per request
    client_cpu_us: float | None = None  # load generator CPU per request


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write("WRKJSON " .. string.format(
    '{{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout) .. "\\n")
end
"""


def lua_string(text: str) -> str:
    """A Lua long-bracket string holding ``text`` verbatim."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def wrk_load(url: str, body: bytes, connections: int, seconds: float, threads: int) -> Load:
    """Drive ``url`` with wrk for ``seconds``; non-2xx answers and socket errors count."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=lua_string(body.decode())))
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    r = json.loads(line.removeprefix("WRKJSON "))
    # wrk counts a reconnect after gunicorn's "Connection: close" as nothing; real errors:
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    duration = r["duration_us"] / 1e6
    return Load(
        url,
        connections,
        duration,
        r["requests"],
        errors,
        r["requests"] / duration,
        r["p50_us"] / 1000,
        r["p99_us"] / 1000,
        "wrk",
        r,
    )


def python_load(url: str, body: bytes, connections: int, seconds: float) -> Load:
    """Bounded fallback client: one thread per connection until the deadline."""
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    path = "/" + url.split("/", 3)[3]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    failures = [0] * connections
    deadline = time.monotonic() + seconds
    cap = 200_000  # per thread: a bound on count as well as on time

    def worker(slot: int) -> None:
        while time.monotonic() < deadline and len(latencies[slot]) < cap:
            start = time.perf_counter()
            try:
                status, _ = raw_request(port, "POST", path, body)
                ok = 200 <= status < 300
            except OSError:
                ok = False
            latencies[slot].append(time.perf_counter() - start)
            failures[slot] += not ok

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    every = sorted(x for slot in latencies for x in slot)
    p = (
        (lambda q: every[min(len(every) - 1, int(q * len(every)))] * 1000)
        if every
        else (lambda q: 0.0)
    )
    return Load(
        url,
        connections,
        elapsed,
        len(every),
        sum(failures),
        len(every) / elapsed,
        p(0.50),
        p(0.99),
        "python",
    )


def run_load(url: str, body: bytes, connections: int, seconds: float, threads: int) -> Load:
    """wrk when installed, else the Python client."""
    if shutil.which("wrk"):
        return wrk_load(url, body, connections, seconds, threads)
    return python_load(url, body, connections, seconds)


# -- slow clients ----------------------------------------------------------------------

SLOW_HEAD = "POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


class Trickle:
    """``count`` connections that each send a request a few bytes at a time, for ``seconds``.

    Half of them trickle header lines (one every ``every`` seconds, never ending the head),
    the other half send a complete head announcing a 1 MB body and then trickle the body.
    A connection the server drops is opened again, so the pressure stays on (bounded by the
    deadline).  Runs in one thread: slow clients cost the load generator almost nothing.
    """

    def __init__(self, port: int, count: int, seconds: float, every: float = 1.0) -> None:
        self.port, self.count, self.seconds, self.every = port, count, seconds, every
        self.reconnects = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, slot: int) -> socket.socket | None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2.0)
            head = SLOW_HEAD
            if slot % 2:  # a body trickler: the head is complete, the body never is
                head += "Content-Length: 1000000\r\n\r\n"
            s.sendall(head.encode())
            return s
        except OSError:
            return None

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        socks = [self._open(i) for i in range(self.count)]
        while time.monotonic() < deadline:
            time.sleep(self.every)
            for i, s in enumerate(socks):
                chunk = b'{"title": "' if i % 2 else f"X-Slow-{i}: 1\r\n".encode()
                try:
                    if s is None:
                        raise OSError("not connected")
                    s.sendall(chunk)
                except OSError:
                    if s is not None:
                        s.close()
                    socks[i] = self._open(i)
                    self.reconnects += 1
        for s in socks:
            if s is not None:
                s.close()

    def __enter__(self) -> Trickle:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=self.seconds + 30)


@dataclass
class Probe:
    """Normal classify requests sent at a steady rate while slow clients hold connections."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def row(self, slow: int, seconds: float, reconnects: int) -> dict[str, Any]:
        """One line of the slow-client table."""
        ordered = sorted(self.latencies)

        def pct(q: float) -> float | None:
            if not ordered:
                return None
            return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

        return {
            "slow_connections": slow,
            "seconds": seconds,
            "answered": len(ordered),
            "failed": len(self.failures),
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "max_ms": round(1000 * ordered[-1], 1) if ordered else None,
            "slow_reconnects": reconnects,
            "first_failures": sorted(set(self.failures))[:3],
        }


def probe(
    port: int, body: bytes, seconds: float, rate: float = 20.0, timeout: float = 5.0
) -> Probe:
    """Send ``rate`` classify requests a second for ``seconds`` (each on its own thread,
    each with ``timeout``); a refusal, a timeout or a non-200 counts as a failure."""
    result, lock = Probe(), threading.Lock()

    def one() -> None:
        start = time.perf_counter()
        try:
            status, _ = raw_request(port, "POST", "/v1/classify", body, timeout=timeout)
            error = None if status == 200 else f"status {status}"
        except OSError as exc:
            error = type(exc).__name__
        with lock:
            if error is None:
                result.latencies.append(time.perf_counter() - start)
            else:
                result.failures.append(error)

    threads = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(threads) < rate * seconds:
        t = threading.Thread(target=one, daemon=True)
        t.start()
        threads.append(t)
        time.sleep(1.0 / rate)
    for t in threads:
        t.join(timeout=timeout + 5)
    return result


def slow_client_table(
    server: Server, body: bytes, counts: list[int], seconds: float
) -> list[dict[str, Any]]:
    """p50/p99 and failures of normal requests while 0, 16, 64, 256 slow clients trickle."""
    port = int(server.url.rsplit(":", 1)[1])
    rows = []
    for count in counts:
        with Trickle(port, count, seconds) as slow:
            time.sleep(min(2.0, seconds / 4))  # let the slow clients take their places
            found = probe(port, body, seconds - min(2.0, seconds / 4))
        rows.append(found.row(count, seconds, slow.reconnects))
        time.sleep(1.0)  # let the server drop the last slow connections
    return rows


def memory(server: Server) -> list[dict[str, Any]]:
    """RSS and PSS (MiB) of each worker; PSS splits the preloaded model between them."""
    rows = []
    for pid in server.worker_pids():
        rollup = Path(f"/proc/{pid}/smaps_rollup")
        values = {}
        for line in rollup.read_text().splitlines() if rollup.exists() else []:
            key, _, rest = line.partition(":")
            if key in {"Rss", "Pss"}:
                values[key.lower()] = round(int(rest.split()[0]) / 1024, 1)
        rows.append({"pid": pid, "rss_mib": values.get("rss"), "pss_mib": values.get("pss")})
    return rows


def check_answer(server: Server, body: bytes, expect: int) -> None:
    """Make sure the endpoint really answers before it is measured."""
    port = int(server.url.rsplit(":", 1)[1])
    status, answer = raw_request(port, "POST", "/v1/classify", body)
    if status != 200:
        raise SystemExit(f"{server.name}: /v1/classify answered {status}: {answer[:300]!r}")
    results = json.loads(answer).get("results")
    if expect and (not isinstance(results, list) or len(results) != expect):
        raise SystemExit(f"{server.name}: expected {expect} results, got {answer[:300]!r}")


# -- in process: microseconds per request, with the real model and with a stub ------------

INPROCESS = r"""
import io, json, sys, time
from pathlib import Path
from werkzeug.test import EnvironBuilder
from service import create_app
from settings import Settings

bodies = json.loads(sys.argv[1])
app = create_app(Settings(data_dir=Path(sys.argv[2])))
state = app.extensions["wiretag"]
real = state.models.current

class Stub:
    # answers with results the real model computed once: what is left is the service's cost
    def __init__(self, model):
        self.model, self.version, self.sha256, self.cached = model, model.version, model.sha256, {}
    def classify(self, items, explain=True, **options):
        key = (len(items), explain)
        if key not in self.cached:
            self.cached[key] = self.model.classify(items, explain=explain, **options)
        return self.cached[key]

def per_request(path, body, rounds):
    environ = EnvironBuilder(path=path, method="POST", data=body,
                             content_type="application/json").get_environ()
    def call():
        env = dict(environ, **{"wsgi.input": io.BytesIO(body)})
        out = b"".join(app(env, lambda status, headers: None))
        assert out.startswith(b'{"model"'), out[:200]
    for _ in range(20):
        call()
    best = []
    for _ in range(5):  # best of 5 repeats: the least disturbed by the machine's other work
        start = time.perf_counter()
        for _ in range(rounds):
            call()
        best.append((time.perf_counter() - start) / rounds * 1e6)
    return min(best)

found = {}
for name, model in (("real", real), ("stub", Stub(real))):
    state.models.current = model
    for case, (path, body, rounds) in bodies.items():
        found[f"{name}_{case}"] = round(per_request(path, body.encode(), rounds), 1)
print(json.dumps(found))
"""


def in_process(root: Path, tmp: Path) -> dict[str, float]:
    """µs per classify request through Flask (no HTTP, no gunicorn), real model and stub,
    for the checkout at ``root``."""
    one = json.dumps(RSS_ITEM)
    batch = json.dumps({"items": [{**RSS_ITEM, "id": f"rss-{i}"} for i in range(100)]})
    bodies = {
        "one": ["/v1/classify", one, 400],
        "one_no_evidence": ["/v1/classify?explain=false", one, 400],
        "batch100": ["/v1/classify", batch, 10],
        "batch100_no_evidence": ["/v1/classify?explain=false", batch, 10],
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRETAG_")}
    env["PYTHONPATH"] = str(root)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", INPROCESS, json.dumps(bodies), str(tmp / f"inproc-{root.name}")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- MLServer, serving the same pipeline's predict_proba ----------------------------------

MLSERVER_VENV = ROOT / "bench" / ".mlserver-venv"


def mlserver_install() -> Path | str:
    """MLServer (and mlserver-sklearn) in a venv of its own under bench/ (git ignores it),
    with this project's scikit-learn version; the venv's python, or why it failed."""
    python = MLSERVER_VENV / "bin" / "python"
    needed = _model_requirements()
    if (MLSERVER_VENV / "bin" / "mlserver").exists() and _has(python, "Stemmer"):
        return python
    import sklearn  # the version the artifact was saved with

    steps = [
        [sys.executable, "-m", "venv", str(MLSERVER_VENV)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "mlserver",
            "mlserver-sklearn",
            f"scikit-learn=={sklearn.__version__}",
            *needed,
            # uvloop 0.22 refuses asyncio.get_event_loop() without a loop, which MLServer's
            # parallel inference workers call at start: they die, and no model loads
            "uvloop<0.22",
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=1800)
        if done.returncode:
            return f"{' '.join(step[:4])}: {done.stderr.strip()[-800:]}"
    return python


def _model_requirements() -> list[str]:
    """What unpickling the artifact imports besides scikit-learn: the model package's own
    runtime dependencies, as pyproject.toml pins them (the stemmer, for one)."""
    import tomllib

    wanted = {"pystemmer", "numpy", "scipy", "joblib"}
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in deps if d.split(">")[0].split("=")[0].split("<")[0].lower() in wanted]


def _has(python: Path, module: str) -> bool:
    """Whether ``python`` can import ``module``."""
    done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
    return done.returncode == 0


@contextmanager
def mlserver(python: Path, tmp: Path) -> Iterator[str]:
    """MLServer on 127.0.0.1 serving model/wiretag.joblib's predict_proba, with 2 parallel
    inference workers (as wiretag has 2 gunicorn workers)."""
    models = tmp / "mlserver-models" / "wiretag"
    models.mkdir(parents=True)
    shutil.copy(ROOT / "model" / "wiretag.joblib", models / "model.joblib")
    (models / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "wiretag",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
        )
    )
    http, grpc, metrics = free_port(), free_port(), free_port()
    (tmp / "mlserver-models" / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": http,
                "grpc_port": grpc,
                "metrics_port": metrics,
                "parallel_workers": 2,  # as many inference processes as wiretag has workers
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the pipeline's tokenizer is ours
    log = (tmp / "mlserver.log").open("wb")
    process = subprocess.Popen(
        [str(python.parent / "mlserver"), "start", str(tmp / "mlserver-models")],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"mlserver exited: {(tmp / 'mlserver.log').read_text()[-2000:]}")
            try:
                if raw_request(http, "GET", "/v2/models/wiretag/ready", b"", 2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("mlserver: not ready after 120 s")
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def mlserver_body(count: int) -> bytes:
    """A V2 inference request: ``count`` RSS items as the text the pipeline reads."""
    sys.path.insert(0, str(ROOT))
    from model import compose

    text = compose(RSS_ITEM["title"], RSS_ITEM["summary"])
    return json.dumps(
        {
            "inputs": [
                {"name": "text", "shape": [count], "datatype": "BYTES", "data": [text] * count}
            ],
            "outputs": [{"name": "predict_proba"}],
        }
    ).encode()


# -- the whole run ------------------------------------------------------------------------


def _env(args: argparse.Namespace, log_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRETAG_")}
    env.update({"WIRETAG_DATA_DIR": str(log_dir / "data"), "WIRETAG_WORKERS": str(args.workers)})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each gunicorn makes its own
    return env


def _bodies() -> tuple[bytes, bytes]:
    one = json.dumps(RSS_ITEM).encode()
    batch = json.dumps({"items": [{**RSS_ITEM, "id": f"rss-{i}"} for i in range(100)]}).encode()
    return one, batch


def throughput(
    args: argparse.Namespace, pairs: dict[str, tuple[Server, Server]], infer: str | None = None
) -> tuple[dict[str, Any], dict[str, list[Load]]]:
    """For each (wiretag, empty endpoint) pair: single items against the empty endpoint, then
    batches of 100 with and without evidence, each in ``args.rounds`` rounds; every round
    alternates over the pairs (and MLServer's ``infer`` URL, if given), so a change in the
    machine's load weighs on all of them alike. Also MLServer's runs, single and batch."""
    one, batch = _bodies()
    c, secs, t = args.connections, args.seconds, args.wrk_threads
    for wt, empty in pairs.values():
        check_answer(wt, one, 1)
        check_answer(wt, batch, 100)
        check_answer(empty, one, 0)
        run_load(wt.url + "/v1/classify", one, c, min(secs, 3), t)  # warm up
        run_load(empty.url + "/v1/classify", one, c, min(secs, 3), t)
    theirs: dict[str, list[Load]] = {"single": [], "batch": []}
    if infer:
        run_load(infer, mlserver_body(1), c, min(secs, 3), t)
    rounds: dict[str, list[tuple[Load, Load]]] = {tag: [] for tag in pairs}
    for _ in range(args.rounds):
        for tag, (wt, empty) in pairs.items():
            rounds[tag].append(
                (
                    timed_load(empty, empty.url + "/v1/classify", one, c, secs, t),
                    timed_load(wt, wt.url + "/v1/classify", one, c, secs, t),
                )
            )
        if infer:
            theirs["single"].append(run_load(infer, mlserver_body(1), c, secs, t))
    found: dict[str, Any] = {tag: summarise_rounds(rounds[tag]) for tag in pairs}
    cases = (("evidence", ""), ("no_evidence", "?explain=false"))
    batches: dict[tuple[str, str], list[Load]] = {
        (tag, case): [] for tag in pairs for case, _ in cases
    }
    for _ in range(args.rounds):
        for case, query in cases:
            for tag, (wt, _) in pairs.items():
                url = wt.url + "/v1/classify" + query
                batches[tag, case].append(timed_load(wt, url, batch, c, secs, t))
        if infer:
            theirs["batch"].append(run_load(infer, mlserver_body(100), c, secs, t))
    for (tag, case), loads in batches.items():
        found[tag].setdefault("batch_100", {})[case] = batch_figures(loads)
    for tag, (wt, empty) in pairs.items():
        found[tag]["memory"] = {"wiretag": memory(wt), "empty": memory(empty)}
    return found, theirs


def batch_figures(loads: list[Load]) -> dict[str, Any]:
    """items/s and latency of batch-of-100 runs: medians over the rounds, and each run."""
    cpu = [x.server_cpu_us / 100 for x in loads if x.server_cpu_us is not None]
    return {
        "items_per_s": round(statistics.median(x.rps for x in loads) * 100),
        "rps": round(statistics.median(x.rps for x in loads), 1),
        "p99_ms": round(statistics.median(x.p99_ms for x in loads), 1),
        "worker_cpu_us_per_item": round(statistics.median(cpu), 1) if cpu else None,
        "errors": sum(x.errors for x in loads),
        "runs_items_per_s": [round(x.rps * 100) for x in loads],
    }


def summarise_rounds(rounds: list[tuple[Load, Load]]) -> dict[str, Any]:
    """Medians over the alternated empty/wiretag rounds."""
    empty_rps = statistics.median(e.rps for e, _ in rounds)
    wiretag_rps = statistics.median(w.rps for _, w in rounds)
    return {
        "single_item": {
            "empty_rps": round(empty_rps, 1),
            "wiretag_rps": round(wiretag_rps, 1),
            "ratio": round(wiretag_rps / empty_rps, 3),
            "wiretag_p50_ms": round(statistics.median(w.p50_ms for _, w in rounds), 2),
            "wiretag_p99_ms": round(statistics.median(w.p99_ms for _, w in rounds), 2),
            "empty_p99_ms": round(statistics.median(e.p99_ms for e, _ in rounds), 2),
            "wiretag_worker_cpu_us": _median_of(w.server_cpu_us for _, w in rounds),
            "empty_worker_cpu_us": _median_of(e.server_cpu_us for e, _ in rounds),
            "errors": sum(w.errors for _, w in rounds),
        },
        "runs": [[asdict(e), asdict(w)] for e, w in rounds],
    }


def stub_against_empty(args: argparse.Namespace, stub: Server, empty: Server) -> dict[str, Any]:
    """Single items on wiretag with a stub model against the empty endpoint (alternated):
    the service's own share of the ratio, with the model's work taken out."""
    one, _ = _bodies()
    c, secs, t = args.connections, args.seconds, args.wrk_threads
    check_answer(stub, one, 1)
    run_load(stub.url + "/v1/classify", one, c, min(secs, 3), t)
    rounds = [
        (
            timed_load(empty, empty.url + "/v1/classify", one, c, secs, t),
            timed_load(stub, stub.url + "/v1/classify", one, c, secs, t),
        )
        for _ in range(args.rounds)
    ]
    return summarise_rounds(rounds)["single_item"]


def slow_and_long(args: argparse.Namespace, wt: Server) -> dict[str, Any]:
    """The long load and the slow-client table for one server."""
    one, _ = _bodies()
    found: dict[str, Any] = {}
    if args.load_seconds > 0:
        soak = timed_load(
            wt, wt.url + "/v1/classify", one, args.connections, args.load_seconds, args.wrk_threads
        )
        found["load"] = {
            "seconds": round(soak.seconds, 1),
            "requests": soak.requests,
            "errors": soak.errors,
            "rps": round(soak.rps, 1),
            "p99_ms": round(soak.p99_ms, 2),
        }
    counts = [int(x) for x in args.slow_clients.split(",") if x]
    if counts:
        found["slow_clients"] = slow_client_table(wt, one, counts, args.slow_seconds)
    return found


def compare_mlserver(theirs: dict[str, list[Load]], wiretag: dict[str, Any]) -> dict[str, Any]:
    """items/s of MLServer serving predict_proba, single items and batches of 100 (medians of
    the runs alternated with wiretag's), against wiretag's with evidence."""
    single = statistics.median(x.rps for x in theirs["single"])
    batch = statistics.median(x.rps for x in theirs["batch"]) * 100
    ours_single = wiretag["single_item"]["wiretag_rps"]
    ours_batch = wiretag["batch_100"]["evidence"]["items_per_s"]
    return {
        "installed": True,
        "single_items_per_s": round(single, 1),
        "single_p99_ms": round(statistics.median(x.p99_ms for x in theirs["single"]), 2),
        "batch100_items_per_s": round(batch),
        "runs_batch100_items_per_s": [round(x.rps * 100) for x in theirs["batch"]],
        "errors": sum(x.errors for x in theirs["single"] + theirs["batch"]),
        "wiretag_over_mlserver_single": round(ours_single / single, 2) if single else None,
        "wiretag_over_mlserver_batch100_with_evidence": round(ours_batch / batch, 2)
        if batch
        else None,
    }


def measure(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """Every figure of the benchmark, this checkout and (with --baseline) another, in one run."""
    tool = "wrk" if shutil.which("wrk") else "python"
    report: dict[str, Any] = {"settings": vars(args) | {"tool": tool}}
    roots = {"after": ROOT} | ({"before": Path(args.baseline).resolve()} if args.baseline else {})
    if not args.skip_inprocess:
        report["in_process_us"] = {tag: in_process(root, log_dir) for tag, root in roots.items()}
    extra = args.gunicorn_args.split()
    with contextlib.ExitStack() as stack:
        pairs = {}
        for tag, root in roots.items():
            env = _env(args, log_dir / tag)
            (log_dir / tag).mkdir(parents=True, exist_ok=True)
            wt = stack.enter_context(
                serve(f"{tag}-wiretag", "service:create_app()", env, log_dir, extra, root)
            )
            empty = stack.enter_context(
                serve(f"{tag}-empty", "bench_service:empty_app()", env, log_dir, extra, root)
            )
            pairs[tag] = (wt, empty)
        infer = None
        if args.mlserver:  # running alongside, measured in the same alternated rounds
            python = mlserver_install()
            if isinstance(python, str):
                report["mlserver"] = {"installed": False, "error": python}
            else:
                infer = stack.enter_context(mlserver(python, log_dir)) + "/v2/models/wiretag/infer"
        figures, theirs = throughput(args, pairs, infer)
        for tag, found in figures.items():
            report[tag] = {"root": str(roots[tag])} | found
        if infer:
            report["mlserver"] = compare_mlserver(theirs, report["after"])
        if args.stub:
            env = _env(args, log_dir / "after")
            with serve("after-stub", "bench_service:stub_app()", env, log_dir, extra) as stub:
                report["after"]["stub_model"] = stub_against_empty(args, stub, pairs["after"][1])
        for tag, (wt, _) in pairs.items():
            report[tag] |= slow_and_long(args, wt)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_before": args.loadavg_before,
        "loadavg_after": round(os.getloadavg()[0], 2),
    }
    return report


def _median_of(values: Iterator[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def human(report: dict[str, Any]) -> str:
    """A few lines for a person."""
    lines = [
        f"load generator: {report['settings']['tool']}, "
        f"{report['settings']['connections']} connections, {report['settings']['workers']} workers"
    ]
    for tag in ("before", "after"):
        if tag not in report:
            continue
        r = report[tag]
        s, b = r["single_item"], r["batch_100"]
        lines += [
            f"{tag} ({r['root']}):",
            f"  one RSS item: {s['wiretag_rps']:.0f} req/s, p99 {s['wiretag_p99_ms']} ms, worker CPU "
            f"{s['wiretag_worker_cpu_us']} us/request; empty endpoint {s['empty_rps']:.0f} req/s "
            f"(ratio {100 * s['ratio']:.0f} %)",
            f"  batches of 100: {b['evidence']['items_per_s']} items/s with evidence, "
            f"{b['no_evidence']['items_per_s']} without",
        ]
        if "stub_model" in r:
            st = r["stub_model"]
            lines.append(
                f"  with a stub model: {st['wiretag_rps']:.0f} req/s, {st['wiretag_worker_cpu_us']}"
                f" us/request; empty endpoint {st['empty_rps']:.0f} (ratio {100 * st['ratio']:.0f} %)"
            )
        for row in r.get("slow_clients", []):
            lines.append(
                f"  {row['slow_connections']:4d} slow clients: {row['answered']} answered, "
                f"{row['failed']} failed, p99 {row['p99_ms']} ms"
            )
    for tag, found in report.get("in_process_us", {}).items():
        lines.append(
            f"in process ({tag}), us per request: "
            + ", ".join(f"{k} {v}" for k, v in found.items())
        )
    if "mlserver" in report:
        lines.append(f"MLServer: {json.dumps(report['mlserver'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; JSON to stdout, the summary to stderr."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run")
    parser.add_argument("--rounds", type=int, default=3, help="alternated empty/wiretag runs")
    parser.add_argument("--load-seconds", type=float, default=60.0, help="the long load (0: none)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="WIRETAG_WORKERS for both servers")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--gunicorn-args", default="", help="extra gunicorn options for every server"
    )
    parser.add_argument(
        "--baseline", help="another checkout (say, main's) measured in the same run"
    )
    parser.add_argument(
        "--slow-clients", default="0,16,64,256", help="slow connections per row ('' for none)"
    )
    parser.add_argument(
        "--slow-seconds", type=float, default=60.0, help="each slow-client row's length"
    )
    parser.add_argument(
        "--mlserver", action="store_true", help="also MLServer (installed under bench/)"
    )
    parser.add_argument("--skip-inprocess", action="store_true", help="no in-process timing")
    parser.add_argument(
        "--stub", action="store_true", help="also wiretag with a stub model vs the empty endpoint"
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 s runs, 1 round, no long load, 5 s rows"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.load_seconds, args.slow_seconds = 2.0, 1, 0.0, 5.0
    if not shutil.which("wrk"):
        print("wrk not found (apt-get install wrk): using the Python client", file=sys.stderr)
    args.loadavg_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="wiretag-bench-") as tmp:
        try:
            report = measure(args, Path(tmp))
        except (SystemExit, subprocess.CalledProcessError):
            for log in Path(tmp).glob("*.log"):
                print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise
    json.dump(report, sys.stdout, indent=2, default=str)
    print(file=sys.stdout)
    print(human(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
