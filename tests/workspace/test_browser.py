"""The workspace in a real browser: Debian's headless Chromium against a live service on
127.0.0.1 holding real RSS items (../shared/unlabelled) tagged by the shipped model.

It filters by a label, searches, opens an item, sees its evidence highlighted, submits a
correction and finds it in /v1/corrections; hostile feed strings never run.  The same run
saves screenshots of the queue, the item view and the overview: into the directory named by
WIRETAG_TEST_SCREENSHOTS (``make screenshots`` points it at docs/screenshots/, which the
README shows), else into the run's temporary directory, so a test run leaves the checkout
clean.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workspace_kit import HOSTILE, chromium, fill, live_server, require_chromium

from service import create_app
from settings import Settings
from store import open_store

SCREENSHOTS_ENV = "WIRETAG_TEST_SCREENSHOTS"

pytestmark = pytest.mark.slow
WAIT = 15  # seconds a page may take to load (bounded: a lost page fails, never hangs)


def find(browser: Any, css: str) -> Any:
    """The first element matching ``css``, waiting for the page to show it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT).until(
        shown.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def arrive(browser: Any, fragment: str) -> None:
    """Wait until the browser's URL holds ``fragment``."""
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT).until(shown.url_contains(fragment))


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this run saves its screenshots (see the module docstring)."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def site(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'w.db'}"
    store = open_store(url)
    info = fill(store, shared)
    store.close()
    app = create_app(Settings(database_url=url))
    with live_server(app) as base:
        yield {"base": base, **info}


def test_analyst_filters_searches_opens_corrects_and_finds_the_correction(
    site: dict[str, Any], shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    base = site["base"]
    with chromium() as browser:
        # filter by a label, with the form, as an analyst would
        browser.get(base + "/")
        find(browser, "input[name=label][value=attack]").click()
        find(browser, "form.filters button[type=submit]").click()
        arrive(browser, "label=attack")
        chips = browser.find_elements(By.CSS_SELECTOR, "ol.items li .chips")
        assert chips and all("attack" in c.text for c in chips)
        browser.save_screenshot(str(shots / "queue.png"))

        # search within the label
        box = find(browser, "#q")
        box.send_keys("bomb")
        box.submit()
        arrive(browser, "q=bomb")
        assert "label=attack" in browser.current_url
        rows = browser.find_elements(By.CSS_SELECTOR, "ol.items li article")
        assert rows and all("bomb" in r.text.lower() for r in rows), [r.text for r in rows]

        # open the first item and see its evidence highlighted in the attack colour
        find(browser, "ol.items li a.open").click()
        arrive(browser, "/items/")
        find(browser, "table.scores")
        marks = browser.find_elements(By.CSS_SELECTOR, "mark.ev.l-attack")
        assert marks, "no attack evidence highlighted"
        colour = marks[0].value_of_css_property("background-color")
        assert colour == "rgba(251, 217, 194, 1)", colour  # --attack-bg
        browser.save_screenshot(str(shots / "item.png"))
        item_id = int(browser.current_url.rstrip("/").rsplit("/", 1)[1])

        # correct a label: reject attack, after giving a name
        find(browser, "button[value='attack:reject']").click()
        arrive(browser, "/signin")
        find(browser, "#name").send_keys("Browser Analyst")
        find(browser, "form.signin button").click()
        arrive(browser, f"/items/{item_id}")
        find(browser, "button[value='attack:reject']").click()
        assert "Recorded: attack rejected by Browser Analyst" in find(browser, ".flash").text

        # and find it in the API
        browser.get(base + "/v1/corrections")
        answer = json.loads(find(browser, "body").text)
        latest = answer["corrections"][-1]
        assert (latest["item_id"], latest["label"], latest["verdict"], latest["analyst"]) == (
            item_id,
            "attack",
            "reject",
            "Browser Analyst",
        )

        browser.get(base + "/overview")
        assert find(browser, "svg rect.bar.l-attack")
        browser.save_screenshot(str(shots / "overview.png"))


def test_hostile_feed_strings_never_run(site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    with chromium() as browser:
        browser.get(site["base"] + "/?q=pwned")  # the words inside the hostile markup
        assert browser.title == "Queue · wiretag"
        titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "ol.items li h2")]
        assert len(titles) == 2 and any("<script>" in t for t in titles), titles  # as text
        assert not browser.find_elements(By.CSS_SELECTOR, "ol.items svg, ol.items img")
        links = [a.get_attribute("href") or "" for a in browser.find_elements(By.TAG_NAME, "a")]
        assert not any(link.startswith("javascript:") for link in links)
        assert HOSTILE[0][2].startswith("javascript:")
        errors = [
            e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]
        ]
        assert not errors, errors  # nothing of ours needed an exemption
