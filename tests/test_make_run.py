"""``make run`` as a newcomer meets it, in a real terminal (a pty): the service and the
poller log in one format, and Ctrl-C stops both, one line each, with make exiting 0."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
RUN_STAMP = ".venv/.installed-run"
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: "
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def newcomer_environ(**wiretag: str) -> dict[str, str]:
    """This environment without WIRETAG_ settings or an outer make's, plus ``wiretag``."""
    dropped = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PROMETHEUS_MULTIPROC_DIR"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not (k.startswith("WIRETAG_") and not k.startswith("WIRETAG_TEST_"))
    }
    return {**env, **wiretag}


class Terminal:
    """A command run on a pseudo-terminal, as if typed at a shell; its output collected."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pid, self.fd = pty.fork()
        if pid == 0:  # the child: a new session whose controlling terminal is the pty
            os.chdir(REPO)
            os.execvpe(argv[0], argv, env)
        self.pid, self.output, self.status = pid, "", None

    def read(self, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        """Collect output for up to ``seconds``, or until EOF or ``until()`` holds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: every process holding the terminal has gone
                return
            if not data:
                return
            self.output += data.decode(errors="replace").replace("\r\n", "\n")

    def press_ctrl_c(self) -> None:
        """What the key does: the terminal sends SIGINT to its foreground job."""
        os.write(self.fd, b"\x03")

    def wait(self, seconds: float) -> int | None:
        """The command's exit status once it has exited (reading on meanwhile), else None."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.read(0.2)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.read(0.5)
                return os.waitstatus_to_exitcode(status)
        return None

    def kill_session(self) -> None:
        """SIGKILL whatever the command left running in its session (a failed test)."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.pid:  # the session id
                os.kill(int(stat.parent.name), signal.SIGKILL)
        os.close(self.fd)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Callable[..., tuple[Terminal, str]]]:
    """Start ``make run`` on a terminal with a free port and an empty data directory."""
    if not (REPO / RUN_STAMP).is_file():
        pytest.skip("make run needs the .venv that make test creates")
    started: list[Terminal] = []

    def start(**wiretag: str) -> tuple[Terminal, str]:
        port = free_port()
        env = newcomer_environ(
            WIRETAG_BIND=f"127.0.0.1:{port}",
            WIRETAG_DATA_DIR=str(tmp_path / "data"),
            WIRETAG_FEEDS_FILE=str(tmp_path / "no-feeds.opml"),
            WIRETAG_WORKERS="1",
            **wiretag,
        )
        # -o: never reinstall here; -s: what make itself would echo is not under test
        terminal = Terminal(["make", "-s", "-o", RUN_STAMP, "run"], env)
        started.append(terminal)
        return terminal, f"http://127.0.0.1:{port}"

    yield start
    for terminal in started:
        terminal.kill_session()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _is_text(line: str) -> bool:
    return TEXT_LINE.match(line) is not None


def _is_json(line: str) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry)


@pytest.mark.parametrize(("log_format", "one_format"), [("auto", _is_text), ("json", _is_json)])
def test_make_run_logs_one_format_and_ctrl_c_stops_both_cleanly(
    make_run: Callable[..., tuple[Terminal, str]],
    log_format: str,
    one_format: Callable[[str], bool],
) -> None:
    run, url = make_run(WIRETAG_LOG_FORMAT=log_format)
    run.read(90, until=lambda: "polling (owner" in run.output and _healthy(url))
    assert "polling (owner" in run.output and _healthy(url), run.output
    httpx.get(url + "/healthz", headers={"X-Request-ID": "make-run-check"}, timeout=5)
    run.read(10, until=lambda: "make-run-check" in run.output)
    before = run.output
    run.press_ctrl_c()
    status = run.wait(60)
    assert status == 0, run.output
    assert "***" not in run.output and "Traceback" not in run.output, run.output
    lines = [line.removeprefix("^C") for line in run.output.splitlines() if line.strip()]
    assert lines and all(one_format(line) for line in lines), run.output
    assert "make-run-check" in before  # the access log, in the same format
    after = [line.removeprefix("^C") for line in run.output[len(before) :].splitlines()]
    after = [line for line in after if line.strip()]
    assert len(after) == 2, after  # one line per process
    assert any("Shutting down: Master" in line for line in after), after
    assert any("stopped on SIGINT" in line for line in after), after
