"""Helpers shared by the service tests: settings, model copies, and a JSON Schema checker.

The checker covers the subset of JSON Schema that the OpenAPI document uses (types,
required, properties, additionalProperties, items, prefixItems, enum, const, ranges, anyOf,
$ref), so tests can hold real answers against the documented shapes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def write_new_version(directory: Path, date: str = "2099-01-01T00:00:00+00:00") -> str:
    """Re-save the model in ``directory`` as a new valid version; return that version."""
    current = model.load(directory)
    card = {k: v for k, v in current.card.items() if k not in {"artifact_sha256", "version"}}
    return str(model.save(current.pipeline, {**card, "date": date}, directory)["version"])


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
