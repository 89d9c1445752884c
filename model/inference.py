"""Scoring over a fitted TF-IDF + one-vs-rest logistic regression pipeline.

Two paths give the same numbers as ``pipeline.predict_proba``:

* :func:`score_batch` vectorises the whole batch in one ``transform`` call and takes one
  sparse matrix product; it is the path for batches.
* :class:`LeanScorer` reads the fitted vectoriser's own vocabulary, idf and the classifiers'
  coefficients into a term table once, then scores one short item in pure Python without
  building a sparse matrix; scikit-learn's per-call validation costs more than the
  arithmetic for a single RSS entry, and the service pays that on every request.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

Evidence = dict[str, list[tuple[str, float]]]


@dataclass(frozen=True)
class Scored:
    """Raw scores and evidence for one document, before thresholds are applied."""

    scores: list[float]
    evidence: list[list[tuple[str, float]]]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def parts(pipeline: Pipeline) -> tuple[TfidfVectorizer, np.ndarray, np.ndarray]:
    """The vectoriser, the coefficient matrix (labels x features) and the intercepts."""
    vectorizer = pipeline.named_steps["tfidf"]
    classifier = pipeline.named_steps["clf"]
    if not isinstance(vectorizer, TfidfVectorizer) or not isinstance(
        classifier, OneVsRestClassifier
    ):
        raise TypeError("expected Pipeline([('tfidf', TfidfVectorizer), ('clf', OneVsRest...)])")
    coef = np.vstack([est.coef_.ravel() for est in classifier.estimators_])
    intercept = np.array([float(est.intercept_[0]) for est in classifier.estimators_])
    return vectorizer, coef, intercept


def _top_terms_batch(
    x: sparse.csr_matrix, coef: np.ndarray, names: np.ndarray, k: int
) -> list[list[list[tuple[str, float]]]]:
    """Per row and label, the k features with the largest positive contribution (tf-idf x weight)."""
    contributions = x.data[:, None] * coef[:, x.indices].T  # one row per stored value
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    out: list[list[list[tuple[str, float]]]] = [[] for _ in range(x.shape[0])]
    for j in range(coef.shape[0]):
        column = contributions[:, j]
        # by row, then contribution (largest first), equal ones by term (vocabulary indices
        # are in term order): the lean path's order
        order = np.lexsort((x.indices, -column, rows))
        for r in range(x.shape[0]):
            lo, hi = x.indptr[r], min(x.indptr[r + 1], x.indptr[r] + k)
            picked = order[lo:hi]
            out[r].append(
                [(str(names[x.indices[i]]), float(column[i])) for i in picked if column[i] > 0]
            )
    return out


def score_batch(
    pipeline: Pipeline,
    documents: Sequence[str],
    explain: bool = True,
    k: int = 5,
    names: np.ndarray | None = None,
) -> list[Scored]:
    """Score many documents with one vectoriser pass and one matrix product."""
    vectorizer, coef, intercept = parts(pipeline)
    x = sparse.csr_matrix(vectorizer.transform(documents))
    decision = np.asarray(x @ coef.T) + intercept
    probabilities = (1.0 / (1.0 + np.exp(-decision))).tolist()
    if not explain:
        return [Scored(row, [[] for _ in intercept]) for row in probabilities]
    if names is None:
        names = vectorizer.get_feature_names_out()
    evidence = _top_terms_batch(x, coef, names, k)
    return [Scored(row, ev) for row, ev in zip(probabilities, evidence, strict=True)]


class LeanScorer:
    """Scores one document at a time straight from the pipeline's vocabulary and weights."""

    def __init__(self, pipeline: Pipeline) -> None:
        vectorizer, coef, intercept = parts(pipeline)
        if vectorizer.norm != "l2" or not vectorizer.use_idf:
            raise TypeError("the lean path supports l2-normalised tf-idf only")
        self._analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()
        self._sublinear = bool(vectorizer.sublinear_tf)
        self._intercept = [float(b) for b in intercept]
        idf = vectorizer.idf_
        # one row per feature: (idf, idf * w_label0, idf * w_label1, ...)
        weighted = np.column_stack([idf, coef.T * idf[:, None]]).tolist()
        self._table = {term: tuple(weighted[i]) for term, i in vectorizer.vocabulary_.items()}

    def score(self, document: str, explain: bool = True, k: int = 5) -> Scored:
        """Scores (and evidence) for one document, equal to the pipeline's to rounding."""
        counts = Counter(self._analyze(document))
        table, n_labels = self._table, len(self._intercept)
        sums = [0.0] * n_labels
        squares = 0.0
        hits = []
        for term, count in counts.items():
            row = table.get(term)
            if row is None:
                continue
            tf = 1.0 + math.log(count) if self._sublinear else float(count)
            squares += (tf * row[0]) ** 2
            for j in range(n_labels):
                sums[j] += tf * row[j + 1]
            if explain:
                hits.append((term, tf, row))
        norm = math.sqrt(squares) or 1.0
        scores = [_sigmoid(b + s / norm) for b, s in zip(self._intercept, sums, strict=True)]
        evidence: list[list[tuple[str, float]]] = [[] for _ in range(n_labels)]
        if explain:
            for j in range(n_labels):
                # rank on -(tf * idf * w): the same order as the batch path, ties by term
                ranked = sorted((-tf * row[j + 1], t) for t, tf, row in hits if row[j + 1] > 0)
                evidence[j] = [(t, -c / norm) for c, t in ranked[:k]]
        return Scored(scores, evidence)
