"""The webhook outbox: alerts written with their items, then leased, sent and retried.

The store never builds a webhook's body: the poller hands it over with the new item
(:class:`store.records.Alert`) and gets it back, as it gave it, in a :class:`Delivery`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from common.clock import utcnow
from store import schema
from store.base import StoreBase, lease_due
from store.records import Alert, Delivery, NewItem


class OutboxMixin(StoreBase):
    """Webhook deliveries: queue, lease, mark sent or failed."""

    def claim_deliveries(
        self, limit: int, lease_seconds: int, now: datetime | None = None
    ) -> list[Delivery]:
        """Lease up to ``limit`` due webhook deliveries (the same lease as feeds')."""
        moment = now or utcnow()
        o = schema.outbox
        stmt = lease_due(
            o,
            (o.c.state == "pending") & (o.c.next_attempt_at <= moment),
            [o.c.next_attempt_at, o.c.id],
            limit,
            moment,
            {"lease_until": moment + timedelta(seconds=lease_seconds)},
        )
        i = schema.items
        story = (
            select(i.c.story_id).where(i.c.id == o.c.item_id).scalar_subquery().label("story_id")
        )
        stmt = stmt.returning(
            o.c.id, o.c.item_id, o.c.label, o.c.url, o.c.payload, o.c.attempts, story
        )
        with self._tx(write=True) as conn:
            rows = conn.execute(stmt).all()
        # the item's story is read in the same statement (a surge event has no item)
        deliveries = [
            Delivery(r.id, r.item_id, r.label, r.url, r.payload, r.attempts, r.story_id)
            for r in rows
        ]
        return sorted(deliveries, key=lambda d: d.id)

    def delivery_sent(self, delivery_id: int) -> None:
        """Mark a delivery done."""
        o = schema.outbox
        with self._tx(write=True) as conn:
            conn.execute(
                update(o)
                .where(o.c.id == delivery_id)
                .values(state="sent", attempts=o.c.attempts + 1, lease_until=None, last_error=None)
            )

    def delivery_failed(
        self, delivery_id: int, error: str, next_attempt_at: datetime, give_up: bool = False
    ) -> None:
        """Record a failed attempt: retry at ``next_attempt_at``, or give up for good."""
        o = schema.outbox
        with self._tx(write=True) as conn:
            conn.execute(
                update(o)
                .where(o.c.id == delivery_id)
                .values(
                    state="failed" if give_up else "pending",
                    attempts=o.c.attempts + 1,
                    next_attempt_at=next_attempt_at,
                    lease_until=None,
                    last_error=error[:1000],
                )
            )

    def _enqueue(
        self, conn: Connection, added: Sequence[tuple[int, NewItem]], now: datetime
    ) -> None:
        """One pending outbox row per alert of each added item, due at once."""
        rows = [row for item_id, item in added for row in outbox_rows(item_id, item.alerts, now)]
        if rows:
            conn.execute(insert(schema.outbox), rows)


def outbox_rows(
    item_id: int | None, alerts: Sequence[Alert], now: datetime
) -> list[dict[str, Any]]:
    """A pending outbox row, due at once, per alert (``item_id`` None: an event about no
    one item, a surge)."""
    return [
        {
            "item_id": item_id,
            "label": alert.label,
            "url": alert.url,
            "payload": alert.payload,
            "attempts": 0,
            "next_attempt_at": now,
            "state": "pending",
            "created_at": now,
        }
        for alert in alerts
    ]
