"""GET /v1/model and POST /v1/model/reload: a new model goes in, a bad one is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from service_testkit import ONE_ITEM, make_settings, tamper, write_new_version

import model
from service import create_app, reload_model

Conforms = Callable[[Any, str, str, int], None]


def test_the_model_card_is_served(client: Any, conforms: Conforms) -> None:
    body = client.get("/v1/model").get_json()
    conforms(body, "/v1/model", "get", 200)
    shipped = json.loads((model.SHIPPED_DIR / model.CARD_NAME).read_text())
    assert body["card"] == shipped
    assert body["version"] == shipped["version"]
    assert body["sha256"] == shipped["artifact_sha256"]
    assert body["thresholds"] == pytest.approx(shipped["thresholds"])


def test_reload_puts_a_new_model_in_service(
    model_copy: Path, tmp_path: Path, conforms: Conforms
) -> None:
    app = create_app(make_settings(tmp_path, model_dir=model_copy))
    client = app.test_client()
    old = client.get("/v1/model").get_json()["version"]
    new = write_new_version(model_copy)
    assert new != old
    # nothing changes until the reload is asked for
    assert client.post("/v1/classify", json=ONE_ITEM).get_json()["model"]["version"] == old
    response = client.post("/v1/model/reload")
    assert response.status_code == 200
    body = response.get_json()
    conforms(body, "/v1/model/reload", "post", 200)
    assert (body["previous"]["version"], body["model"]["version"]) == (old, new)
    assert body["reload"]["ok"] is True
    assert client.post("/v1/classify", json=ONE_ITEM).get_json()["model"]["version"] == new
    ready = client.get("/readyz").get_json()["checks"]["model"]
    assert ready["version"] == new and ready["last_reload"]["ok"] is True
    metrics = client.get("/metrics").get_data(as_text=True)
    assert (
        f'wiretag_model_info{{sha256="{body["model"]["sha256"]}",version="{new}"}} 1.0' in metrics
    )
    assert (
        f'wiretag_model_info{{sha256="{body["previous"]["sha256"]}",version="{old}"}} 0.0'
        in metrics
    )
    assert 'wiretag_model_reloads_total{outcome="ok"} 1.0' in metrics


@pytest.mark.parametrize("damage", ["artifact", "card_labels", "no_card"])
def test_a_model_failing_its_card_check_is_refused(
    model_copy: Path, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(tmp_path, model_dir=model_copy))
    client = app.test_client()
    before = client.post("/v1/classify", json=ONE_ITEM).get_json()
    card_path = model_copy / model.CARD_NAME
    if damage == "artifact":
        tamper(model_copy)
    elif damage == "card_labels":
        card = json.loads(card_path.read_text())
        card["labels"] = list(reversed(card["labels"]))
        card_path.write_text(json.dumps(card))
    else:
        card_path.unlink()
    response = client.post("/v1/model/reload")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "model_refused"
    # the old model keeps serving, with the same answers
    assert client.post("/v1/classify", json=ONE_ITEM).get_json() == before
    ready = client.get("/readyz")
    assert ready.status_code == 200
    last = ready.get_json()["checks"]["model"]["last_reload"]
    assert last["ok"] is False and "refused" in last["error"]
    # the reason (it names files) is for the keyed reload answer and the log, not /readyz
    assert str(model_copy) not in ready.get_data(as_text=True)
    assert str(tmp_path) not in ready.get_data(as_text=True)
    assert any("refused" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'wiretag_model_reloads_total{outcome="refused"} 1.0' in metrics


def test_the_gunicorn_hook_reloads_too(model_copy: Path, tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, model_dir=model_copy))
    new = write_new_version(model_copy)
    outcome = reload_model(app)
    assert outcome is not None and outcome.ok and outcome.version == new
    assert app.test_client().get("/v1/model").get_json()["version"] == new


def test_a_service_that_cannot_load_its_model_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(model.ModelError, match="no model card"):
        create_app(make_settings(tmp_path, model_dir=tmp_path / "empty"))
