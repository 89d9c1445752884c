"""Scoring over a fitted TF-IDF + one-vs-rest logistic regression pipeline.

Three pieces give the same numbers as ``pipeline.predict_proba``:

* :class:`Featurizer` re-does the fitted vectoriser's analysis (lowercase, accent
  stripping, its token pattern and stop words, word unigrams and bigrams) with dictionary
  lookups straight to feature ids. It never builds the n-gram strings that scikit-learn
  builds and then mostly throws away (most bigrams of a text are not in the vocabulary),
  and strips accents with one regular expression instead of a character loop. Any other
  vectoriser configuration falls back to scikit-learn's own analyser.
* :meth:`Scorer.arrays` scores a batch from its tf-idf entries with numpy (each entry's
  contribution per label, summed per row, then calibrated): the path for batches.
* :meth:`Scorer.one` keeps the idf and the classifiers' coefficients in one row per
  feature and scores one short item in pure Python without building a sparse matrix;
  scikit-learn's per-call validation costs more than the arithmetic for a single RSS
  entry, and the service pays that on every request.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, compress, filterfalse, islice, repeat
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

from model.calibration import IDENTITY, CalibratedClassifier, Calibrator
from model.tokens import Memo, StemmingTokenizer

Evidence = dict[str, list[tuple[str, float]]]


class Entries(NamedTuple):
    """A batch's tf-idf values as entries: row (the document), column (the feature id) and
    value, rows in order and columns ascending within a row (a CSR matrix's order)."""

    rows: np.ndarray
    columns: np.ndarray
    data: np.ndarray
    n: int


class Scored(NamedTuple):
    """Raw scores and evidence for one document, before thresholds are applied."""

    scores: list[float]
    evidence: Sequence[list[tuple[str, float]]]  # one list per label


def parts(
    pipeline: Pipeline,
) -> tuple[TfidfVectorizer, np.ndarray, np.ndarray, tuple[Calibrator, ...]]:
    """The vectoriser, the coefficient matrix (labels x features), the intercepts and each
    label's calibrator (the plain sigmoid for an uncalibrated classifier)."""
    vectorizer = pipeline.named_steps["tfidf"]
    classifier = pipeline.named_steps["clf"]
    calibrators: tuple[Calibrator, ...] | None = None
    if isinstance(classifier, CalibratedClassifier):
        calibrators, classifier = classifier.calibrators, classifier.classifier
    if not isinstance(vectorizer, TfidfVectorizer) or not isinstance(
        classifier, OneVsRestClassifier
    ):
        raise TypeError("expected Pipeline([('tfidf', TfidfVectorizer), ('clf', OneVsRest...)])")
    coef = np.vstack([est.coef_.ravel() for est in classifier.estimators_])
    intercept = np.array([float(est.intercept_[0]) for est in classifier.estimators_])
    return vectorizer, coef, intercept, calibrators or (IDENTITY,) * len(intercept)


def _char_class(code_points: list[int]) -> re.Pattern[str]:
    """One regular-expression class matching exactly these code points."""
    ranges, start = [], code_points[0]
    for previous, current in zip(code_points, [*code_points[1:], -1], strict=True):
        if current != previous + 1:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(previous))}")
            start = current
    return re.compile("[" + "".join(ranges) + "]")


@functools.cache
def _combining_marks() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Every code point with a non-zero combining class (the ones scikit-learn drops), as
    two classes: the regex engine tests a class of basic-plane characters with one table
    lookup, but walks a mixed class range by range, which is 30 times slower."""
    marks = [c for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))]
    return (
        _char_class([c for c in marks if c <= 0xFFFF]),
        _char_class([c for c in marks if c > 0xFFFF]),
    )


def strip_accents(text: str) -> str:
    """scikit-learn's ``strip_accents_unicode``, with regular expressions for its loop."""
    if text.isascii():
        return text
    basic, astral = _combining_marks()
    text = basic.sub("", unicodedata.normalize("NFKD", text))
    # a character beyond the basic plane takes 4 bytes in UTF-16, every other one 2
    beyond_basic = len(text.encode("utf-16-le", "surrogatepass")) > 2 * len(text)
    return astral.sub("", text) if beyond_basic else text


def term_names(vectorizer: TfidfVectorizer) -> list[str]:
    """Each feature's name, by feature id, as analysts see it: stems in readable words."""
    tokenizer = vectorizer.tokenizer
    show = tokenizer.shown if isinstance(tokenizer, StemmingTokenizer) else str
    names = [""] * len(vectorizer.vocabulary_)
    for term, i in vectorizer.vocabulary_.items():
        names[i] = show(term)
    return names


# The token patterns the fast path knows. None can match a space (so a vocabulary entry
# with a space is a bigram). On ASCII text each one's tokens are exactly the runs of
# [A-Za-z0-9_] (split apart at every other character) that are two or more characters
# long and, for ours, letters only: a \b inside such a run is impossible.
_NO_SPACE_PATTERNS = {
    r"(?u)\b[^\W\d_][^\W\d_]+\b": True,  # letters only (ours): runs must be alphabetic
    r"(?u)\b\w\w+\b": False,  # scikit-learn's default: any run
}
_ASCII_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
# every other ASCII byte becomes a space, so bytes.split() gives the runs
_ASCII_RUNS = bytes(b if b in _ASCII_WORD else 0x20 for b in range(256))
# Punctuation that news text is full of (curly quotes, dashes, ellipsis, no-break and thin
# spaces, bullets). None is a word character, so turning each into a space changes no
# token, and a text with nothing else outside ASCII can take the ASCII path.
_PUNCTUATION = re.compile("[\u00a0\u00ab\u00b7\u00bb\u2010-\u2027\u202f\u2032-\u2039\u3000]")


_MANY_RUNS = 64  # a text with more runs than this learns its unseen runs in bulk
# Between the texts of a batch split in one go: the ASCII record separator, which the
# batch's table keeps (every other non-word byte becomes a space); a text holding one
# itself takes the one-text path.
_MARK = "\x1e"
_MARK_RUN = _MARK.encode("ascii")
_MARK_ID = -2
_NEW_ID = -3  # a run not looked up yet
_BULK_RUNS = _ASCII_RUNS[:0x1E] + _MARK_RUN + _ASCII_RUNS[0x1F:]


class Featurizer:
    """The fitted vectoriser's tf-idf rows, computed with dictionary lookups.

    ``counts(doc)`` maps feature ids to raw counts; ``matrix(docs)`` gives the l2-normalised
    tf-idf matrix that ``vectorizer.transform(docs)`` gives.
    """

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        if vectorizer.norm != "l2" or not vectorizer.use_idf:
            raise TypeError("only l2-normalised tf-idf is supported")
        vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.n_features = len(vocabulary)
        self.idf: np.ndarray = vectorizer.idf_
        self.sublinear = bool(vectorizer.sublinear_tf)
        self._binary = bool(vectorizer.binary)
        self.names = term_names(vectorizer)
        tokenizer = vectorizer.tokenizer
        stemming = isinstance(tokenizer, StemmingTokenizer)
        pattern = tokenizer.token_pattern if stemming else vectorizer.token_pattern
        self._fast = (
            vectorizer.analyzer == "word"
            and vectorizer.input == "content"
            and vectorizer.preprocessor is None
            and (tokenizer is None or stemming)
            and vectorizer.strip_accents in (None, "unicode")
            and tuple(vectorizer.ngram_range) in {(1, 1), (1, 2)}
            and pattern in _NO_SPACE_PATTERNS
        )
        if not self._fast:  # scikit-learn's own analyser, ids looked up afterwards
            self._analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()
            self._vocabulary = vocabulary
            return
        self._lower = bool(vectorizer.lowercase)
        self._strip = vectorizer.strip_accents == "unicode"
        if self._strip:
            _combining_marks()  # built now, not on the first request
        self._tokenize: Callable[[str], list[str]] = re.compile(pattern).findall
        self._letters_only = _NO_SPACE_PATTERNS[pattern]
        # stop words the tokenizer drops before stemming, then the vectoriser's own
        self._stop_words = tokenizer.stop if stemming else frozenset()
        self._stems = tokenizer.stems if stemming else None
        self._stop = frozenset(vectorizer.get_stop_words() or ())
        self._stop_tokens: dict[str, None] = dict.fromkeys(self._stop)
        self._bigrams = tuple(vectorizer.ngram_range) == (1, 2)
        # unigrams by their token, bigrams by their pair of tokens: hashing a pair reuses
        # the tokens' cached hashes, where joining them would build and hash a new string
        self._table: dict[str | tuple[str, str], int] = {}
        for term, i in vocabulary.items():
            first, _, second = term.partition(" ")
            self._table[(first, second) if second else first] = i
        # ASCII text: each run (bytes) straight to its term (with bigrams) or its feature id
        self._runs = Memo(self._run_term if self._bigrams else self._run_feature)

    def _run_term(self, run: bytes) -> str | None:
        """The term an ASCII run counts as, or None if it is no token or a stop word."""
        word = run.decode("ascii")
        if len(word) < 2 or (self._letters_only and not word.isalpha()):
            return None
        if word in self._stop_words:
            return None
        term = self._stems[word] if self._stems is not None else word
        return None if term in self._stop else term

    def _run_feature(self, run: bytes) -> int:
        """The feature id of an ASCII run, -1 for none (an int, so ids pack into numpy)."""
        if run == _MARK_RUN:
            return _MARK_ID
        term = self._run_term(run)
        return -1 if term is None else self._table.get(term, -1)

    def _learn_runs(self, runs: list[bytes]) -> None:
        """Work out many never-seen ASCII runs at once, in C-level passes and one call to
        the stemmer, where run by run a text of random words costs ~2 us of Python a word."""
        words = b" ".join(runs).decode("ascii").split(" ")
        ok: Iterable[bool] = map((1).__lt__, map(len, words))  # two characters or more
        if self._letters_only:
            ok = map(operator.and_, ok, map(str.isalpha, words))
        ok = list(
            map(operator.and_, ok, map(operator.not_, map(self._stop_words.__contains__, words)))
        )
        tokens = list(compress(words, ok))
        stems = self._stems.many(tokens) if self._stems is not None else tokens
        # a stem that is one of the vectoriser's stop words counts as no term: get(stem,
        # stem) gives the stem back unless it is one of them (whose value is None)
        terms: Iterable[str | int | None] = map(self._stop_tokens.get, stems, stems)
        default: int | None = None
        if not self._bigrams:
            terms, default = map(self._table.get, terms, repeat(-1)), -1  # type: ignore[arg-type]
        found = iter(terms)
        self._runs.store(runs, [next(found) if k else default for k in ok])

    def _normalised(self, document: str) -> str:
        """Lower-cased, accents stripped and news punctuation spaced, as the fast path
        reads it (only on the fast path)."""
        if self._lower:
            document = document.lower()
        if not document.isascii():
            if self._strip:
                document = strip_accents(document)
            document = _PUNCTUATION.sub(" ", document)
        return document

    def _ascii_runs(self, document: str) -> list[bytes]:
        """The runs of an ASCII text, those never seen learnt in bulk when there are many."""
        runs = document.encode("ascii").translate(_ASCII_RUNS).split()
        if len(runs) > _MANY_RUNS:
            new = set(filterfalse(self._runs.__contains__, runs))
            if len(new) > _MANY_RUNS:
                self._learn_runs(list(new))
        return runs

    def counts(self, document: str) -> Counter[int]:
        """Feature id -> how often the feature occurs in ``document``."""
        if not self._fast:
            vocabulary = self._vocabulary
            ids = [vocabulary[t] for t in self._analyze(document) if t in vocabulary]
            return Counter(set(ids) if self._binary else ids)
        document = self._normalised(document)
        # every loop below runs in C: translate, split, filter, map, zip, Counter
        if document.isascii():
            runs = self._ascii_runs(document)
            if not self._bigrams:
                found: Counter[int | None] = Counter(map(self._runs.__getitem__, runs))
                found.pop(-1, None)
                return self._found(found)
            tokens = list(filter(None, map(self._runs.__getitem__, runs)))
        else:
            tokens = self._analyse(document)
        terms: Iterable[str | tuple[str, str]] = tokens
        if self._bigrams:
            terms = chain(tokens, zip(tokens, islice(tokens, 1, None), strict=False))
        return self._found(Counter(map(self._table.get, terms)))

    def _analyse(self, document: str) -> list[str]:
        """The terms of a text that is not ASCII (lower-cased and accent-stripped already)."""
        words: Iterable[str] = self._tokenize(document)
        if self._stop_words:
            words = filterfalse(self._stop_words.__contains__, words)
        if self._stems is not None:
            words = map(self._stems.__getitem__, words)
        if self._stop:
            words = filterfalse(self._stop.__contains__, words)
        return list(words)

    def _found(self, found: Counter[int | None]) -> Counter[int]:
        found.pop(None, None)  # the words and n-grams outside the vocabulary
        if self._binary:
            return Counter(dict.fromkeys(found, 1))  # type: ignore[arg-type]
        return found  # type: ignore[return-value]

    def entries(self, documents: Sequence[str]) -> Entries:
        """The l2-normalised tf-idf values of ``documents``, entry by entry."""
        if self._fast and not self._bigrams:
            rows, columns, counts = self._unigram_counts(documents)
        else:
            rows, columns, counts = self._counted(documents)
        data = counts.astype(np.float64)
        if self._binary:
            data[:] = 1.0
        elif self.sublinear:
            np.log(data, out=data)
            data += 1.0
        data *= self.idf[columns]
        n = len(documents)
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n))
        norms[norms == 0] = 1.0
        data /= norms[rows]
        return Entries(rows, columns, data, n)

    def matrix(self, documents: Sequence[str]) -> sparse.csr_matrix:
        """The l2-normalised tf-idf matrix of ``documents`` (rows in order)."""
        e = self.entries(documents)
        indptr = np.searchsorted(e.rows, np.arange(e.n + 1)).astype(np.int32)
        shape = (e.n, self.n_features)
        return sparse.csr_matrix((e.data, e.columns.astype(np.int32), indptr), shape=shape)

    def _counted(self, documents: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, feature id, count) of every feature found, a Counter per document; ids
        sorted within each row, as :meth:`_unigram_counts` gives them."""
        lengths, indices, values = [], list[int](), list[int]()
        for document in documents:
            found = self.counts(document)
            indices += found.keys()
            values += found.values()
            lengths.append(len(found))
        rows = np.repeat(np.arange(len(documents)), lengths)
        columns = np.asarray(indices, dtype=np.int64)
        order = np.lexsort((columns, rows))
        return rows[order], columns[order], np.asarray(values, dtype=np.int64)[order]

    def _unigram_counts(
        self, documents: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, feature id, count), rows in order and ids sorted within each.

        The ASCII texts of the batch (most, once news punctuation is spaced) are joined
        with a marker between them and split and looked up in one go, then counted once
        with numpy; a text that stays non-ASCII takes the Counter path.
        """
        normalised = [d if d.isascii() else self._normalised(d) for d in documents]
        bulk = [i for i, d in enumerate(normalised) if d.isascii() and _MARK not in d]
        rows: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        if bulk:
            found, row = self._bulk_ids([normalised[i] for i in bulk])
            rows.append(np.asarray(bulk, dtype=np.int64)[row])
            ids.append(found)
        if len(bulk) < len(documents):
            for i in sorted(set(range(len(documents))) - set(bulk)):
                elements = list(self.counts(normalised[i]).elements())
                rows.append(np.full(len(elements), i, dtype=np.int64))
                ids.append(np.asarray(elements, dtype=np.int64))
        all_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        keys, counts = np.unique(all_rows * self.n_features + all_ids, return_counts=True)
        out_rows, columns = np.divmod(keys, self.n_features)
        return out_rows, columns, counts

    def _bulk_ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The feature ids found in ASCII ``texts`` and the text (0, 1, ...) of each."""
        joined = f" {_MARK} ".join(texts)
        if self._lower:
            joined = joined.lower()
        runs = joined.encode("ascii").translate(_BULK_RUNS).split()
        self._runs[_MARK_RUN] = _MARK_ID
        # no learning yet: _NEW_ID for a new run, found by numpy (``None in found`` compares
        # every int with None, which cost more than the lookups)
        found = list(map(self._runs.get, runs, repeat(_NEW_ID)))
        ids = np.fromiter(found, dtype=np.int64, count=len(found))
        if (ids == _NEW_ID).any():
            new = set(compress(runs, (ids == _NEW_ID).tolist()))
            self._learn_runs(list(new))
            # a run the bounded cache let go is worked out again (the marker included)
            self._runs[_MARK_RUN] = _MARK_ID
            found = list(map(self._runs.__getitem__, runs))
            ids = np.fromiter(found, dtype=np.int64, count=len(found))
        row = np.cumsum(ids == _MARK_ID)
        keep = ids >= 0
        return ids[keep], row[keep]


def _evidence_order(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The order of the contributions by group, largest value first, equal values kept in
    the order they come in (by term id, as the batch's entries are).

    By value with numpy's quicksort (a stable sort of floats costs 2-3 times more), equal
    values then put back in arrival order with one sort of distinct integer keys (only
    when there are any), then a stable sort by group, whose small integers (a batch of up
    to 16,384 items has under 65,536 groups) numpy sorts by radix, in linear time.
    """
    n = len(values)
    by_value = np.argsort(-values)  # introsort: equal values in no particular order
    if n > 1:
        ordered = values[by_value]
        starts = np.empty(n, dtype=bool)
        starts[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
        if not starts.all():
            # (run of equal values, arrival) packed in one int64 each, all distinct
            by_value = np.sort((np.cumsum(starts) - 1) * n + by_value) % n
    grouped = group[by_value]
    if n and int(grouped.max()) < 2**16:
        grouped = grouped.astype(np.uint16)
    return by_value[np.argsort(grouped, kind="stable")]


def _top_terms_batch(
    e: Entries, contributions: np.ndarray, names: np.ndarray, k: int
) -> list[tuple[list[tuple[str, float]], ...]]:
    """Per row and label, the k features with the largest positive contribution (tf-idf x
    weight; ``contributions`` is entries x labels), largest first, equal ones by term id:
    the lean path's order. ``names`` is an object array of the features' names. Weights
    are rounded to 4 places here, once, with numpy."""
    n_labels = contributions.shape[1]
    flat = contributions.ravel()  # entry-major: entry i's labels at i*n_labels + j
    positive = np.flatnonzero(flat > 0)
    values = flat[positive]
    stored, label = np.divmod(positive, n_labels)
    group = e.rows[stored] * n_labels + label  # one group per (row, label)
    terms = e.columns[stored]
    order = _evidence_order(group, values)
    grouped = group[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    place = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = order[place < k]  # still in group order
    kept_group = group[keep]
    pairs = list(zip(names[terms[keep]].tolist(), values[keep].round(4).tolist(), strict=True))
    # each group's slice of pairs (empty for a group without evidence), cut by C-level maps
    every = np.arange(e.n * n_labels)
    firsts = np.searchsorted(kept_group, every, side="left").tolist()
    ends = np.searchsorted(kept_group, every, side="right").tolist()
    by_group = list(map(pairs.__getitem__, map(slice, firsts, ends)))
    return list(zip(*[iter(by_group)] * n_labels, strict=True))


class Scorer:
    """Scores documents with a fitted pipeline's own vocabulary, idf, coefficients and
    calibrators."""

    def __init__(self, pipeline: Pipeline) -> None:
        vectorizer, coef, intercept, calibrators = parts(pipeline)
        self.featurizer = Featurizer(vectorizer)
        self.n_labels = len(intercept)
        self.calibrators = calibrators
        self._coef_t = np.ascontiguousarray(coef.T)
        self._names = np.array(self.featurizer.names, dtype=object)
        self._intercept_array = intercept
        self._intercept = [float(b) for b in intercept]
        self._calibrate_one = [c.one for c in calibrators]
        self._plain = all(c.method == "identity" for c in calibrators)
        # one row per feature id: (idf, idf * w_label0, idf * w_label1, ...)
        idf = self.featurizer.idf
        self._rows: list[tuple[float, ...]] = [
            tuple(row) for row in np.column_stack([idf, coef.T * idf[:, None]]).tolist()
        ]

    def contributions(self, documents: Sequence[str]) -> tuple[Entries, np.ndarray, np.ndarray]:
        """The tf-idf entries, each entry's contribution to each label's decision value
        (tf-idf x coefficient: the evidence), and the decision values (items x labels),
        summed from the contributions without building a sparse matrix."""
        e = self.featurizer.entries(documents)
        contributions = self._coef_t[e.columns] * e.data[:, None]
        decision = np.empty((e.n, self.n_labels))
        for j in range(self.n_labels):
            decision[:, j] = np.bincount(e.rows, weights=contributions[:, j], minlength=e.n)
        decision += self._intercept_array
        return e, contributions, decision

    def probabilities(self, decision: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from raw decision values (items x labels)."""
        if self._plain:
            return np.asarray(expit(decision), dtype=np.float64)
        out = np.empty(decision.shape)
        for j, c in enumerate(self.calibrators):
            out[:, j] = c.many(decision[:, j])
        return out

    def arrays(
        self, documents: Sequence[str], explain: bool = True, k: int = 5
    ) -> tuple[np.ndarray, list[tuple[list[tuple[str, float]], ...]] | None]:
        """Probabilities (items x labels) and, if asked, each item's evidence per label,
        with numpy over the batch's tf-idf entries."""
        e, contributions, decision = self.contributions(documents)
        probabilities = self.probabilities(decision)
        if not explain:
            return probabilities, None
        return probabilities, _top_terms_batch(e, contributions, self._names, k)

    def batch(self, documents: Sequence[str], explain: bool = True, k: int = 5) -> list[Scored]:
        """Score many documents at once (:meth:`arrays`, one Scored per document)."""
        probabilities, evidence = self.arrays(documents, explain, k)
        rows = probabilities.tolist()
        if evidence is None:
            nothing: list[list[tuple[str, float]]] = [[] for _ in self._intercept]
            return [Scored(row, nothing) for row in rows]
        return list(map(Scored, rows, evidence))

    def one(self, document: str, explain: bool = True, k: int = 5) -> Scored:
        """Scores (and evidence) for one document without a sparse matrix: the fast path
        for one short item, in C-level maps over its features' rows (per request, numpy's
        call overhead on arrays this small costs more than the arithmetic)."""
        found = self.featurizer.counts(document)
        features = list(found)
        if self.featurizer.sublinear:
            tfs = [1.0 + math.log(c) for c in found.values()]
        else:
            tfs = list(map(float, found.values()))
        # columns of the features' rows: idf, then idf * coefficient per label
        columns = list(zip(*map(self._rows.__getitem__, features), strict=True)) or [()] * (
            1 + self.n_labels
        )
        tfidf = list(map(operator.mul, tfs, columns[0]))
        norm = math.sqrt(sum(map(operator.mul, tfidf, tfidf))) or 1.0
        weighted = [list(map(operator.mul, tfs, column)) for column in columns[1:]]
        scores = [
            calibrate(b + sum(w) / norm)
            for calibrate, b, w in zip(self._calibrate_one, self._intercept, weighted, strict=True)
        ]
        if not explain:
            return Scored(scores, [[] for _ in weighted])
        names = self.featurizer.names
        evidence = []
        for w in weighted:
            # rank on -(tf * idf * w): the batch path's order, ties by term id
            ranked = sorted(zip(map(operator.neg, w), features, strict=True))[:k]
            evidence.append([(names[f], round(-c / norm, 4)) for c, f in ranked if c < 0])
        return Scored(scores, evidence)
