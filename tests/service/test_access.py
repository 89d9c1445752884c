"""API keys on /v1/ (constant-time, every key tried) and the refusal of an open bind."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_testkit import KEY, ONE_ITEM, OTHER_KEY, make_settings

from service import UnsafeExposure, create_app
from service.security import bearer_token, check_exposure, is_loopback, key_matches


@pytest.fixture(scope="module")
def keyed_app(module_tmp: Path) -> Flask:
    """The service with two API keys configured."""
    return create_app(make_settings(module_tmp, api_keys=(KEY, OTHER_KEY)))


@pytest.fixture
def keyed(keyed_app: Flask) -> FlaskClient:
    """A client of the keyed service."""
    return keyed_app.test_client()


V1_CALLS = [
    ("post", "/v1/classify"),
    ("get", "/v1/model"),
    ("post", "/v1/model/reload"),
    ("get", "/v1/feeds"),
    ("post", "/v1/feeds"),
    ("get", "/v1/feeds/1"),
    ("delete", "/v1/feeds/1"),
    ("get", "/v1/items"),
    ("get", "/v1/no-such-thing"),
]


@pytest.mark.parametrize(("method", "path"), V1_CALLS)
@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer wrong-key-but-long-enough", f"Basic {KEY}", KEY]
)
def test_every_v1_path_needs_a_valid_key(
    keyed: FlaskClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = getattr(keyed, method)(path, headers=headers, json={})
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
def test_any_configured_key_opens_v1(keyed: FlaskClient, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    assert keyed.post("/v1/classify", json=ONE_ITEM, headers=headers).status_code == 200
    assert keyed.get("/v1/model", headers={"Authorization": f"bearer  {key} "}).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_operator_paths_stay_open(keyed: FlaskClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_without_keys_v1_is_open_on_loopback(client: FlaskClient) -> None:
    assert client.post("/v1/classify", json=ONE_ITEM).status_code == 200


def test_key_matching_compares_every_key() -> None:
    assert key_matches(KEY, [OTHER_KEY, KEY])
    assert key_matches(OTHER_KEY, [OTHER_KEY, KEY])
    assert not key_matches(KEY[:-1], [KEY])
    assert not key_matches(KEY + "x", [KEY])
    assert not key_matches("", [KEY])
    assert not key_matches("\udcff" + KEY, [KEY])  # odd input is refused, not an error


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc  ") == "abc"
    assert bearer_token("Token abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [
        ("127.0.0.1:8000", True),
        ("127.8.9.1:80", True),
        ("localhost:8000", True),
        ("[::1]:8000", True),
        ("0.0.0.0:8000", False),
        ("[::]:8000", False),
        ("10.0.0.5:8000", False),
        ("example.org:8000", False),
    ],
)
def test_loopback_binds(bind: str, loopback: bool) -> None:
    assert is_loopback(bind) is loopback


def test_an_open_bind_without_keys_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(UnsafeExposure, match=r"0\.0\.0\.0:8000.*WIRETAG_API_KEYS"):
        create_app(make_settings(tmp_path, bind="0.0.0.0:8000"))
    with pytest.raises(UnsafeExposure):
        check_exposure(["127.0.0.1:8000", "0.0.0.0:9000"], ())


def test_an_open_bind_with_keys_starts(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, bind="0.0.0.0:8000", api_keys=(KEY,)))
    assert app.test_client().get("/healthz").status_code == 200
    check_exposure(["unix:/run/wiretag.sock"], ())  # a unix socket is local
