"""What the workspace tests share: a store holding real RSS items tagged by the shipped
model, hostile items among them, a live server in a thread, and Debian's Chromium."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

import model
from store import FeedUpdate, NewItem, Store

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NOW = datetime.now(UTC).replace(microsecond=0)

# Titles and summaries an attacker controls: each must show as text, never run.
HOSTILE = [
    (
        "<script>document.title='pwned'</script>Bomb kills 12 at market",
        "A suicide bomber <img src=x onerror=\"document.title='pwned'\"> attacked the market.",
        "javascript:document.title='pwned'",
    ),
    (
        "Rebels retake town <svg onload=\"document.title='pwned'\">",
        'Government forces withdrew; "><script>alert(1)</script>',
        "https://example.org/ok?<script>",
    ),
]


def real_items(shared: Path, n: int) -> list[tuple[str, str]]:
    """The first ``n`` RSS items of the unlabelled 2017 file that mention conflict, so the
    queue holds every label."""
    words = (
        "attack",
        "bomb",
        "isis",
        "islamic state",
        "militant",
        "recruit",
        "mosul",
        "propaganda",
        "retake",
        "killed",
    )
    found = []
    with (shared / "unlabelled" / "google_news_rss_2017.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            text = f"{row.get('title', '')} {row.get('text', '')}".lower()
            if any(w in text for w in words):
                found.append((row.get("title") or "", row.get("text") or ""))
            if len(found) >= n:
                break
    return found


# Headlines written for the tests that need no ../shared (the page tests).
WRITTEN = [
    ("Suicide bomber kills 12 at a checkpoint in Kabul", "The attack wounded dozens of people."),
    ("Iraqi forces retake Tal Afar from Islamic State", "Troops recaptured the citadel."),
    ("Teenagers lured online to join Islamic State", "Recruiters used encrypted messaging."),
    ("Imams launch campaign against extremist videos", "The clerics answer propaganda online."),
    ("Central bank holds interest rates", "Inflation cooled in the spring."),
    ("Gunmen attack hotel in Mogadishu", "Al-Shabaab claimed the assault on the hotel."),
]


def fill(store: Store, shared: Path | None, n: int = 120) -> dict[str, Any]:
    """Two feeds (one failing) holding ``n`` real items (or, without ../shared, the
    written ones) and the hostile ones, tagged by the shipped model, 20 minutes apart."""
    m = model.load()
    news = store.add_feed("https://news.example/world.xml", title="World news (2017 RSS)")
    broken = store.add_feed("https://broken.example/feed.xml", title="Broken feed")
    texts = real_items(shared, n) if shared else WRITTEN
    rows = [(t, s, f"https://news.example/{k}") for k, (t, s) in enumerate(texts)] + HOSTILE
    results = m.classify([model.Item(None, t, s) for t, s, _ in rows], explain=False)
    items = [
        NewItem(
            f"k{k}",
            link,
            title,
            summary,
            NOW - timedelta(minutes=20 * k),
            r.labels,
            r.scores,
            m.version,
        )
        for k, ((title, summary, link), r) in enumerate(zip(rows, results, strict=True))
    ]
    store.record_fetch(news.id, "test", FeedUpdate(NOW, NOW + timedelta(minutes=15), 200, 0), items)
    failed = FeedUpdate(NOW, NOW + timedelta(minutes=30), 503, 3, error="HTTP 503")
    store.record_fetch(broken.id, "test", failed, [])
    return {"feed": news.id, "broken": broken.id, "model": m}


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """``app`` served on 127.0.0.1 (a free port) from a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def require_chromium() -> None:
    """Skip with an install hint where Chromium is missing; in CI, fail instead."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    hint = "apt-get install -y --no-install-recommends chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(f"CI must have {', '.join(missing)} (.ci/run installs them: {hint})")
    pytest.skip(f"needs Debian's Chromium ({', '.join(missing)} missing): {hint}")


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """Headless Chromium from Debian, driven by Debian's chromedriver: nothing is
    downloaded (the driver's path is given, so Selenium Manager never runs)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="wiretag-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
