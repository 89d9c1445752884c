"""The poller's exceptions (the tree is drawn in the package docstring)."""


class PollerError(Exception):
    """Something the poller could not do."""


class FetchError(PollerError):
    """A feed could not be fetched; the message says why, for the feed's last_error."""


class FetchTimeout(FetchError):
    """The server did not connect or answer within the timeouts."""


class FeedTooLarge(FetchError):
    """The body (compressed or decompressed) went past the size cap."""


class TooManyRedirects(FetchError):
    """More redirects than allowed, or a redirect without a usable Location."""


class ParseBudgetExceeded(PollerError):
    """Parsing the feed went past its time or memory budget (or its worker died)."""


class ParserFailed(PollerError):
    """The parser process failed for another reason than the feed's budget (ours to fix)."""


class OPMLError(PollerError):
    """An OPML file could not be read."""
