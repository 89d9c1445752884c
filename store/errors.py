"""The store's exceptions (the tree is drawn in the package docstring)."""


class StoreError(Exception):
    """The database cannot be reached, or refused a statement."""


class FeedExists(StoreError):
    """A feed with this URL is already in the store."""

    def __init__(self, url: str) -> None:
        super().__init__(f"feed already present: {url}")
        self.url = url


class ItemNotFound(StoreError):
    """No stored item has this id (it may have been removed with its feed)."""

    def __init__(self, item_id: int) -> None:
        super().__init__(f"no item with id {item_id}")
        self.item_id = item_id
