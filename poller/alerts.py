"""What a webhook says: the alerts a new item sets off, and the JSON body each one POSTs.

The poller builds the body when it tags the item and hands it to the store with the item
(reader's update intents: the store writes rows, it does not compose messages).  Only the
item's id is unknown until the store inserts it; :func:`webhook_body` adds it when the
delivery is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from store import Alert, Delivery, NewItem
from stories import Surge


def item_body(item: NewItem) -> dict[str, Any]:
    """The ``item`` object a webhook receives, all but its id."""
    return {
        "link": item.link,
        "title": item.title,
        "summary": item.summary,
        "published_at": item.published_at.isoformat() if item.published_at else None,
        "labels": list(item.labels),
        "scores": dict(item.scores),
        "model_version": item.model_version,
    }


def alerts_for(item: NewItem, feed_id: int, webhooks: Mapping[str, str]) -> tuple[Alert, ...]:
    """One alert per label the item carries that has a webhook URL."""
    hooked = [label for label in item.labels if label in webhooks]
    if not hooked:
        return ()
    body = item_body(item)
    return tuple(
        Alert(label, webhooks[label], {"label": label, "feed_id": feed_id, "item": body})
        for label in hooked
    )


def with_alerts(items: list[NewItem], feed_id: int, webhooks: Mapping[str, str]) -> list[NewItem]:
    """The items, each carrying the alerts it sets off."""
    if not webhooks:
        return items
    return [replace(item, alerts=alerts_for(item, feed_id, webhooks)) for item in items]


def webhook_body(delivery: Delivery) -> dict[str, Any]:
    """The JSON POSTed for a delivery: its stored body with the item's id and story id
    put in (an event about no one item, a surge, is sent as stored)."""
    payload = delivery.payload
    if delivery.item_id is None:
        return dict(payload)
    item = {"id": delivery.item_id, **payload["item"]}
    return {**payload, "story_id": delivery.story_id, "item": item}


def surge_alerts(
    surge: Surge, hour_start: datetime, webhooks: Mapping[str, str]
) -> tuple[Alert, ...]:
    """The ``surge`` event for a label that has a webhook URL (none otherwise)."""
    url = webhooks.get(surge.label)
    if url is None:
        return ()
    body = {
        "event": "surge",
        "label": surge.label,
        "hour_start": hour_start.isoformat(),
        "count": surge.count,
        "expected": round(surge.expected, 4),
        "p_value": surge.p_value,
        "history": list(surge.history),
    }
    return (Alert(surge.label, url, body),)
