"""The store's exceptions (the tree is drawn in the package docstring)."""


class StoreError(Exception):
    """The database cannot be reached, or refused a statement."""


class FeedExists(StoreError):
    """A feed with this URL is already in the store."""

    def __init__(self, url: str) -> None:
        super().__init__(f"feed already present: {url}")
        self.url = url
