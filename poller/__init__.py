"""The polling daemon: reads RSS/Atom feeds, tags new entries with the model, stores them.

``python -m poller`` runs it; ``python -m poller feeds ...`` manages the feed list.  The
HTTP client and feedparser live here and nowhere else.

Exceptions::

    PollerError             something the poller could not do
    ├── FetchError          a feed could not be fetched (message goes to last_error)
    │   ├── FetchTimeout    no connection or no answer within the timeouts
    │   ├── FeedTooLarge    the body, compressed or inflated, passed max_feed_bytes
    │   └── TooManyRedirects
    ├── NotAFeed            feedparser found neither a feed nor entries in the body
    ├── ParseBudgetExceeded parsing went past its time or memory budget
    ├── ParserFailed        the parser process failed otherwise (ours to fix)
    └── OPMLError           an OPML file could not be read
    UnsafeURL (ValueError)  a URL that is not http(s) or reaches a non-public address
    └── UnresolvableHost    its host does not resolve (now)
"""

from common.urls import UnresolvableHost, UnsafeURL, check_feed_url
from poller.errors import (
    FeedTooLarge,
    FetchError,
    FetchTimeout,
    OPMLError,
    ParseBudgetExceeded,
    ParserFailed,
    PollerError,
    TooManyRedirects,
)
from poller.parse import NotAFeed

__all__ = [
    "FeedTooLarge",
    "FetchError",
    "FetchTimeout",
    "NotAFeed",
    "OPMLError",
    "ParseBudgetExceeded",
    "ParserFailed",
    "PollerError",
    "TooManyRedirects",
    "UnresolvableHost",
    "UnsafeURL",
    "check_feed_url",
]
