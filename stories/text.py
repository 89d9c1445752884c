"""An item's title and summary as the set of word shingles its signature is built from.

Normalising: lower case; words are runs of letters and digits (any script), so
punctuation, quotes and HTML leftovers split words and vanish; English function words
and one-character words are dropped.  Only the first ``max_words`` words of title +
summary count: the lead is where a report says what happened, and aggregators (Google
News) append other outlets' headlines and "all 72 news articles" after it.  The title's
shingles are added a second time, tagged, so the headline weighs more than the summary,
as it does for a reader.  ``tests/stories/README.md`` and the README record the measured
effect of each choice.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")
_CHARS_PER_WORD = 16  # a first look at 16 characters a word finds ``limit`` words in most texts
_TITLE_TAG = "\x01"  # cannot occur in a word, so a title shingle never equals a body one

# English function words: they carry no event, and left in they make unrelated items
# look alike (every item has "the", "of", "to").
_STOP_WORDS = """a about above after again against all also am an and any are as at be because
    been before being below between both but by can could did do does doing down during
    each few for from further had has have having he her here hers herself him himself
    his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some
    such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


def words(text: str, limit: int | None = None) -> list[str]:
    """The lower-cased words of ``text`` (letters and digits), at most ``limit`` of them."""
    lowered = text.lower()
    if limit is not None and len(lowered) > (cut := _CHARS_PER_WORD * limit):
        # a long summary is not scanned to its end for words never used: the first cut
        # characters hold the first ``limit`` words when they hold one more (the last
        # one found there may be cut short)
        found = _WORD.findall(lowered, 0, cut)
        if len(found) > limit:
            return found[:limit]
    found = _WORD.findall(lowered)
    return found if limit is None else found[:limit]


def content(found: list[str], drop_stop_words: bool = True) -> list[str]:
    """``found`` without one-character words and (by default) stop words, order kept."""
    stop = STOP_WORDS if drop_stop_words else frozenset()
    return [w for w in found if len(w) > 1 and w not in stop]


def shingles(found: list[str], size: int) -> set[str]:
    """The runs of ``size`` consecutive words (one run of all of them if fewer)."""
    if len(found) <= size:
        return {" ".join(found)} if found else set()
    return {" ".join(found[i : i + size]) for i in range(len(found) - size + 1)}


def features(
    title: str,
    summary: str,
    size: int,
    max_words: int | None,
    title_twice: bool = True,
    drop_stop_words: bool = True,
) -> set[str]:
    """The shingles of an item: of its lead (title + summary) and, tagged, of its title."""
    lead = content(words(f"{title}\n{summary}", max_words), drop_stop_words)
    found = shingles(lead, size)
    if title_twice:
        headline = content(words(title, max_words), drop_stop_words)
        found |= {_TITLE_TAG + s for s in shingles(headline, size)}
    return found
