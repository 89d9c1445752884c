"""Helpers shared by the service tests: settings, model copies, the generated OpenAPI
document (and answers held against it), and a real gunicorn."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs

import model
from service.openapi import build
from settings import Settings

REPO = Path(__file__).resolve().parents[2]
OPENAPI = build(Settings())  # the document a service with default settings serves
KEY = "k" * 20 + "-test-key-one"
OTHER_KEY = "o" * 20 + "-test-key-two"

ONE_ITEM = {
    "id": "a1",
    "title": "Militants seize town as army retreats",
    "text": "Fighters captured the town after government forces withdrew; "
    "a suicide bomber killed 12 people at a checkpoint.",
}


def make_settings(tmp: Path, **changes: Any) -> Settings:
    """Settings for a test: data under ``tmp``, everything else at its default."""
    return Settings(data_dir=tmp / "data").with_overrides(**changes)


def copy_model(target: Path) -> Path:
    """Copy the shipped model's files into ``target`` (created) and return it."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (model.ARTIFACT_NAME, model.CARD_NAME):
        shutil.copy2(model.SHIPPED_DIR / name, target / name)
    return target


def write_new_version(directory: Path, version: str = "2099-01-01-test") -> str:
    """Give the model in ``directory`` a new version in its card (still a valid model).

    The card check covers the artifact's hash, the labels and the library versions, not
    the version name, so this is a different model as far as the service can tell.
    """
    card_path = directory / model.CARD_NAME
    card = json.loads(card_path.read_text())
    card["version"] = version
    temporary = card_path.with_suffix(".tmp")
    temporary.write_text(json.dumps(card))
    temporary.replace(card_path)  # atomic, as a deployment would do it
    return version


def tamper(directory: Path) -> None:
    """Change the artifact's bytes so that its sha256 no longer matches the card."""
    artifact = directory / model.ARTIFACT_NAME
    artifact.write_bytes(artifact.read_bytes() + b"tampered")


# -- answers against the document ------------------------------------------------------


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """Where ``value`` breaks ``schema`` (JSON Schema 2020-12; $refs into the document)."""
    rooted = {**schema, "components": OPENAPI["components"]}
    validator = jsonschema_rs.Draft202012Validator(rooted, validate_formats=True)
    return [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(value)]


def documented_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the OpenAPI document gives for this answer."""
    response = OPENAPI["paths"][path][method.lower()]["responses"][str(status)]
    while "$ref" in response:
        response = OPENAPI["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return dict(response["content"]["application/json"]["schema"])


# -- a real gunicorn -------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_environ(**wiretag: str) -> dict[str, str]:
    """This process's environment without WIRETAG_ settings (test ones kept), plus ``wiretag``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("WIRETAG_") and not k.startswith("WIRETAG_TEST_"))
        and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(wiretag)
    return env


class Gunicorn:
    """gunicorn serving ``service:create_app()`` with the repo's gunicorn.conf.py."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.env = clean_environ(
            WIRETAG_BIND=f"127.0.0.1:{self.port}",
            WIRETAG_DATA_DIR=str(tmp / "data"),
            **{"WIRETAG_WORKERS": "2", **env},
        )
        self.stdout = (tmp / "gunicorn.out").open("wb")
        self.stderr = (tmp / "gunicorn.err").open("wb")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "gunicorn.conf.py",
                "service:create_app()",
            ],
            cwd=REPO,
            env=self.env,
            stdout=self.stdout,
            stderr=self.stderr,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until /healthz answers (or gunicorn has exited: then fail with its log)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited {self.process.returncode}: {self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # not yet listening, or not yet healthy: no busy loop either way
        raise AssertionError(f"gunicorn not ready after {timeout} s: {self.log()}")

    def workers(self) -> list[int]:
        """The worker pids (the master's children)."""
        pid = self.process.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def log(self) -> str:
        """The tail of gunicorn's error log."""
        self.stderr.flush()
        return (self.tmp / "gunicorn.err").read_text(errors="replace")[-4000:]

    def access_log(self) -> list[dict[str, Any]]:
        """Every access-log line, parsed."""
        self.stdout.flush()
        lines = (self.tmp / "gunicorn.out").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def stop(self) -> int:
        """SIGTERM, wait (bounded), and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stdout.close()
        self.stderr.close()
        return self.process.returncode
