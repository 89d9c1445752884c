"""The README stays true: its classify example runs against a live app and must answer
what the shipped model answers; its two commands, make targets and configuration table
must match the Makefile and ``settings.Settings``."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

import model
import settings
from service import create_app
from settings import SHIPPED_MODEL_DIR, Settings

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
EMPTY = "(empty)"


def section(title: str) -> str:
    """The README's text under ``## title``, up to the next ``## `` heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced ``language`` blocks of ``text``, in order."""
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def make(*args: str) -> str:
    """make's output for ``args`` in the checkout (nothing is built: -s, and help or -n)."""
    done = subprocess.run(
        ["make", "-s", *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


# -- the classify example ---------------------------------------------------------------


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on a real HTTP server on 127.0.0.1, as the README's curl reaches it."""
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("readme") / "data"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def readme_json(answer: dict[str, Any]) -> str:
    """An answer laid out as the README shows it (what to paste when this test fails)."""

    def inline(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    result = answer["results"][0]
    evidence = ",\n".join(
        f'        "{label}": {inline(terms)}' for label, terms in result["evidence"].items()
    )
    return (
        "{\n"
        f'  "model": {inline(answer["model"])},\n'
        '  "results": [\n'
        "    {\n"
        f'      "id": {inline(result["id"])},\n'
        f'      "labels": {inline(result["labels"])},\n'
        f'      "scores": {inline(result["scores"])},\n'
        f'      "evidence": {{\n{evidence}\n      }},\n'
        f'      "truncated": {inline(result["truncated"])}\n'
        "    }\n"
        "  ]\n"
        "}\n"
    )


def _close(shown: Any, live: Any) -> bool:
    """Equal, numbers within the 4 decimals the service rounds to, structure and order kept."""
    if isinstance(shown, dict) and isinstance(live, dict):
        return list(shown) == list(live) and all(_close(shown[k], live[k]) for k in shown)
    if isinstance(shown, list) and isinstance(live, list):
        return len(shown) == len(live) and all(map(_close, shown, live))
    if isinstance(shown, float | int) and not isinstance(shown, bool):
        return isinstance(live, float | int) and abs(shown - live) <= 1.5e-4
    return bool(shown == live)


def test_the_classify_example_answers_as_shown(live_url: str) -> None:
    text = section("Classify an item")
    curl, shown_json = code_blocks(text, "sh")[0], code_blocks(text, "json")[0]
    assert "-X POST 127.0.0.1:8000/v1/classify" in curl and Settings().bind == "127.0.0.1:8000"
    body = json.loads(re.search(r"-d '(.*)'", curl, re.S).group(1))  # type: ignore[union-attr]
    live = httpx.post(live_url + "/v1/classify", json=body, timeout=30)
    assert live.status_code == 200, live.text
    shown = json.loads(shown_json)
    card = json.loads((SHIPPED_MODEL_DIR / model.CARD_NAME).read_text())
    assert shown["model"] == {"version": card["version"], "sha256": card["artifact_sha256"]}
    assert _close(shown, live.json()), "README.md should show:\n" + readme_json(live.json())


# -- commands, targets, settings --------------------------------------------------------


def test_the_two_commands_are_make_run_and_make_test_as_the_makefile_has_them() -> None:
    text = section("Two commands")
    (commands,) = code_blocks(text, "sh")
    assert [line.split("#")[0].strip() for line in commands.splitlines()] == [
        "make run",
        "make test",
    ]
    defaults = Settings()
    assert f"on {defaults.bind} and the poller" in commands
    assert f"`{SHIPPED_MODEL_DIR.name}/`" in text and SHIPPED_MODEL_DIR.parent == REPO
    assert f"`{defaults.data_dir}/wiretag.db`" in text and f"`{defaults.feeds_file}`" in text
    run = make("-n", "-o", ".venv/.installed-run", "run")
    assert "gunicorn -c gunicorn.conf.py 'service:create_app()'" in run and "-m poller" in run
    test = make("-n", "-o", ".venv/.installed-dev", "test")
    assert "ruff check" in test and "mypy" in test and "-m pytest" in test


def test_the_make_targets_shown_are_make_helps() -> None:
    listed = make("help")
    (shown,) = [b for b in code_blocks(section("Two commands"), "text") if "make help" in b]
    assert shown == listed
    targets = set(re.findall(r"^  make (\S+)", listed, re.M))
    mentioned = set(re.findall(r"\bmake ([a-z]+)\b", README))
    assert mentioned <= targets, mentioned - targets


def _shown(value: Any) -> str:
    """A default as the configuration table writes it."""
    if value in ("", (), {}):
        return EMPTY
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _table() -> dict[str, str]:
    """WIRETAG_ name -> the default the README's configuration table gives it."""
    rows: dict[str, str] = {}
    for line in section("Configuration").splitlines():
        if not line.startswith("| `WIRETAG_"):
            continue
        names, default, meaning = (cell.strip() for cell in line.strip("|").split(" | "))
        assert meaning, line
        values = [EMPTY if d.startswith("*(") else d.replace("`", "") for d in default.split(" / ")]
        keys = [n.strip("`") for n in names.split(" / ")]
        assert len(keys) == len(values), line
        rows.update(zip(keys, values, strict=True))
    return rows


def test_the_configuration_table_is_settings() -> None:
    table = _table()
    defaults = Settings()
    assert set(table) == {settings.PREFIX + f.name.upper() for f in fields(Settings)}
    for f in fields(Settings):
        shown = table[settings.PREFIX + f.name.upper()]
        value = getattr(defaults, f.name)
        if value == SHIPPED_MODEL_DIR:
            assert shown == f"the shipped {SHIPPED_MODEL_DIR.name}/", f.name
        else:
            assert shown == _shown(value), (f.name, shown, value)
