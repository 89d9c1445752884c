"""The stories package's exceptions (the tree is drawn in the package docstring)."""


class StoriesError(Exception):
    """Something story grouping could not do."""


class SignatureError(StoriesError, ValueError):
    """Bytes that cannot be a signature of the current parameters."""
