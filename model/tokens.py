"""The model's words: letters-only tokens, stop words dropped, each cut to its stem.

Stemming (Snowball's English stemmer, in C through PyStemmer) lets "recapture", "recaptured" and "recapturing"
count as one feature, which matters when a label has a few dozen real examples. The
fitted vectoriser keeps a :class:`StemmingTokenizer` as its ``tokenizer``, so the shipped
artifact carries the exact rule it was trained with, and :mod:`model.inference` reads
the same object for its fast path.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, NamedTuple

import Stemmer

log = logging.getLogger(__name__)

CACHE_MAX = 200_000  # entries a Memo holds; when full it starts afresh


class Memo(dict[Any, Any]):
    """key -> ``resolve(key)``, worked out on first sight and then looked up.

    At most ``limit`` entries: when full it empties and starts again, so a long-running
    process that meets endless new keys (numbers, names, typos) stays bounded and keeps
    remembering the keys it meets now.
    """

    def __init__(self, resolve: Callable[[Any], Any], limit: int = CACHE_MAX) -> None:
        super().__init__()
        self._resolve = resolve
        self._limit = limit

    def __missing__(self, key: Any) -> Any:
        found = self._resolve(key)
        if len(self) >= self._limit:
            self.clear()
        self[key] = found
        return found

    def store(self, keys: list[Any], values: list[Any]) -> None:
        """Remember many keys' values at once (starting afresh if they do not fit)."""
        if len(self) + len(keys) > self._limit:
            self.clear()
        self.update(zip(islice(keys, self._limit), values, strict=False))


class Stems(Memo):
    """Word -> stem (a :class:`Memo`).

    Safe to share between threads (the poller classifies from several): a Snowball stemmer
    keeps the word it is working on in itself, so two threads stemming at once corrupt each
    other; a lock serialises stemming, which only happens for words not seen before.
    """

    def __init__(
        self,
        stem: Callable[[str], str],
        limit: int = CACHE_MAX,
        stem_all: Callable[[list[str]], list[str]] | None = None,
    ) -> None:
        super().__init__(self._stem_one, limit)
        self._stem = stem
        self._stem_all = stem_all
        self._lock = threading.Lock()

    def many(self, words: list[str]) -> list[str]:
        """The stems of ``words`` in one call to the stemmer, bypassing the cache (for
        callers that keep their own cache of what the words became)."""
        if self._stem_all is not None:
            with self._lock:
                try:
                    return self._stem_all(words)
                except Exception:  # one bad word: the word-by-word path keeps the others
                    log.warning("bulk stemming failed; stemming %d words one by one", len(words))
        return [self[w] for w in words]

    def _stem_one(self, word: str) -> str:
        with self._lock:
            try:
                return self._stem(word)
            except Exception:  # a stemmer bug on one odd word must not fail a whole batch
                log.warning("stemmer failed on %r; the word is kept as it is", word[:40])
                return word


class Span(NamedTuple):
    """One word of a text: ``text[start:end]`` is how it is written there."""

    start: int
    end: int
    word: str  # lower-cased, accents stripped: as the model reads it
    stem: str


def _reading(word: str) -> str:
    """A word as the vectoriser reads it: lower case, accents stripped (scikit-learn's
    ``strip_accents_unicode``)."""
    word = word.lower()
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class StemmingTokenizer:
    """Tokens of an already lower-cased text: ``token_pattern`` matches, minus
    ``stop_words``, each replaced by its stem."""

    def __init__(
        self, token_pattern: str, stop_words: Iterable[str], language: str = "english"
    ) -> None:
        self.token_pattern = token_pattern
        self.stop_words = tuple(sorted(set(stop_words)))
        self.language = language
        # stem -> the word it most often came from in the training texts, to show
        # analysts "recaptured" rather than "recaptur"
        self.display: dict[str, str] = {}
        self._build()

    def _build(self) -> None:
        pattern = re.compile(self.token_pattern)
        self.findall: Callable[[str], list[str]] = pattern.findall
        self._finditer = pattern.finditer
        self._fullmatch = pattern.fullmatch
        self.stop = frozenset(self.stop_words)
        stemmer = Stemmer.Stemmer(self.language)
        stemmer.maxCacheSize = 0  # Stems is the one cache
        self.stems = Stems(stemmer.stemWord, stem_all=stemmer.stemWords)

    def __call__(self, document: str) -> list[str]:
        stems, stop = self.stems, self.stop
        return [stems[t] for t in self.findall(document) if t not in stop]

    def spans(self, text: str) -> list[Span]:
        """Where each of this tokenizer's words is in ``text`` (as written: offsets into
        the text itself), with the word as the model reads it and its stem. For
        highlighting: a span whose stem is an evidence term's stem is that term."""
        out = []
        for match in self._finditer(text):
            word = _reading(match.group())
            if word in self.stop or not self._fullmatch(word):
                continue
            out.append(Span(match.start(), match.end(), word, self.stems[word]))
        return out

    def learn_display(self, documents: Iterable[str], keep: Iterable[str]) -> None:
        """For each stem in ``keep``, remember its commonest word in ``documents`` (which
        must be preprocessed as the vectoriser does: lower case, accents stripped); ties
        go to the alphabetically first word."""
        wanted = set(keep)
        seen: dict[str, Counter[str]] = {}
        for document in documents:
            for word in self.findall(document):
                stem = self.stems[word]
                if stem in wanted and word not in self.stop:
                    seen.setdefault(stem, Counter())[word] += 1
        self.display = {
            stem: min(words.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            for stem, words in sorted(seen.items())
        }

    def shown(self, term: str) -> str:
        """A vocabulary term (one stem, or two separated by a space) in readable words."""
        return " ".join(self.display.get(stem, stem) for stem in term.split(" "))

    # the artifact stores the rule and the display words, not the cache of stems
    def __getstate__(self) -> dict[str, Any]:
        keys = ("token_pattern", "stop_words", "language", "display")
        return {k: getattr(self, k) for k in keys}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"display": {}} | state)
        self._build()

    def __repr__(self) -> str:
        return (
            f"StemmingTokenizer({self.token_pattern!r}, <{len(self.stop_words)} stop words>, "
            f"{self.language!r})"
        )
