"""Service fixtures: apps built from settings alone, each with its own SQLite file."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

# pytest runs in importlib mode (no sys.path games), so put this folder on the path for
# the test modules' shared kit; its name is unique, so it shadows nothing.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_testkit import copy_model, documented_schema, make_settings, schema_errors

from service import create_app


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary directory shared by one test module."""
    return tmp_path_factory.mktemp("service")


@pytest.fixture(scope="module")
def app(module_tmp: Path) -> Flask:
    """The service with default settings and a SQLite file of its own (one per module)."""
    return create_app(make_settings(module_tmp))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for the module's app."""
    return app.test_client()


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped model directory, free to alter."""
    return copy_model(tmp_path / "model")


@pytest.fixture
def conforms() -> Callable[[Any, str, str, int], None]:
    """Assert that a JSON answer has the shape the OpenAPI document promises."""

    def check(body: Any, path: str, method: str, status: int) -> None:
        errors = schema_errors(body, documented_schema(path, method, status))
        assert not errors, errors

    return check
