"""Helpers shared by the service tests: settings, model copies, and a JSON Schema checker.

The checker covers the subset of JSON Schema that the OpenAPI document uses (types,
required, properties, additionalProperties, items, prefixItems, enum, const, ranges, anyOf,
$ref), so tests can hold real answers against the documented shapes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import model
from settings import Settings

REPO = Path(__file__).resolve().parents[2]
OPENAPI = json.loads((REPO / "service" / "openapi.json").read_text())
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


# -- a JSON Schema subset checker ------------------------------------------------------


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = OPENAPI
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _type_ok(value: Any, name: str) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return checks[name](value)


def schema_errors(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (types, required, properties, items, enums, ranges)."""
    schema = _resolve(schema)
    if "anyOf" in schema:
        options = [schema_errors(value, s, where) for s in schema["anyOf"]]
        return [] if any(not o for o in options) else [f"{where}: matches no anyOf branch"]
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_type_ok(value, t) for t in names):
            return [f"{where}: {value!r:.60} is not {types}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} != {schema['const']!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        errors += _object_errors(value, schema, where)
    if isinstance(value, list):
        errors += _array_errors(value, schema, where)
    return errors


def _object_errors(value: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    errors = [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            errors += schema_errors(item, properties[key], f"{where}.{key}")
        elif extra is False:
            errors.append(f"{where}: unexpected {key!r}")
        elif isinstance(extra, dict):
            errors += schema_errors(item, extra, f"{where}.{key}")
    return errors


def _array_errors(value: list[Any], schema: dict[str, Any], where: str) -> list[str]:
    errors = []
    if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1 << 30):
        errors.append(f"{where}: {len(value)} items is out of range")
    prefix = schema.get("prefixItems", [])
    for i, item in enumerate(value):
        sub = prefix[i] if i < len(prefix) else schema.get("items")
        if sub is not None:
            errors += schema_errors(item, sub, f"{where}[{i}]")
    return errors


def documented_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the OpenAPI document gives for this answer."""
    responses = OPENAPI["paths"][path][method.lower()]["responses"]
    response = _resolve(responses[str(status)])
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
            WIRETAG_WORKERS="2",
            **env,
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
                time.sleep(0.1)
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
