"""Exports: every item that passes a filter, newest first, read a chunk at a time.

Each chunk is one keyset page (:meth:`ItemsMixin.page_items`) in its own short
transaction, so an export of any size holds one chunk in memory and never holds the store.
"""

from __future__ import annotations

from collections.abc import Iterator

from store.items import ItemsMixin
from store.records import ItemFilter, StoredItem

EXPORT_CHUNK = 1000


class ExportMixin(ItemsMixin):
    """Stream the items of a listing, however many there are."""

    def iter_items(
        self,
        filters: ItemFilter,
        *,
        after: str | None = None,
        limit: int | None = None,
        chunk: int = EXPORT_CHUNK,
    ) -> Iterator[list[StoredItem]]:
        """The items that pass ``filters``, newest first, after the cursor ``after``, at
        most ``limit`` of them (None: all), as lists of up to ``chunk`` items.

        ValueError on a bad cursor, chunk or limit (raised at the first ``next``).
        """
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        left = limit
        while left is None or left > 0:
            size = chunk if left is None else min(chunk, left)
            page = self.page_items(filters, limit=size, after=after)
            if page.items:
                yield page.items
            if page.older is None:
                return
            after = page.older
            if left is not None:
                left -= len(page.items)
