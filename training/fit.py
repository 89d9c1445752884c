"""Fitting: the pipeline, nested cross-validation, per-label thresholds, metrics.

Cross-validation splits only the real items; the team's written items join every
training fold and never a held-out one, so every reported figure is on real news.
Hyper-parameters and thresholds are chosen inside each outer training fold (on inner
out-of-fold predictions), so the outer figures never see their own tuning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import sklearn
from scipy.special import expit
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

from model import LABELS
from model.calibration import CalibratedClassifier, Calibrator
from model.inference import term_names
from model.tokens import StemmingTokenizer
from training import calibration
from training.corpus import Example
from training.progress import Advance

SEED = 20171103
# Outlet, agency and page-furniture words: a model that learns these has learned where a
# story came from, not what it is about.
LEAKY_WORDS = frozenset(
    [
        "reuters",
        "ap",
        "afp",
        "ap's",
        "reuters'",
        "bbc",
        "cnn",
        "guardian",
        "huffpost",
        "huffington",
        "getty",
        "photo",
        "photos",
        "file",
        "image",
        "images",
        "pictured",
        "caption",
        "editing",
        "reporting",
        "writing",
        "additional",
        "by",
        "via",
        "said",
        "says",
        "told",
        "tuesday",
        "monday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "am",
        "pm",
        "gmt",
        "est",
    ]
)
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | LEAKY_WORDS)
# letters only: no dates, years or counts
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"  # noqa: S105

VECTORIZERS: dict[str, dict[str, Any]] = {
    "word1": {"analyzer": "word", "ngram_range": (1, 1), "min_df": 2, "max_features": 20000},
    "word12": {"analyzer": "word", "ngram_range": (1, 2), "min_df": 2, "max_features": 40000},
}
# The grid make train searches, cheapest vectoriser first: selection takes the first one
# that scores within TOLERANCE of the best, then the best C and written-item weight for it.
# On the 4,884-item pool the experiment table (model/experiments.json, three fold
# assignments) found stem pairs +0.002 (noise) for three times the vocabulary and C 8 or
# 512 worse than 32-128, so the search keeps stems alone and C 32 and 128.
SEARCHED = ("word1",)
C_VALUES = (32.0, 128.0)
# How much one written item counts against one real item when the classifiers are fitted.
# Written items teach the rare labels their words, but at full weight they also teach
# their own plain style. On the 4,884-item pool (experiment table): macro-F1 0.750 without
# them, 0.773 at 0.25, 0.774 at 0.5, 0.770 at 1: they still help, by 0.024.
WRITTEN_WEIGHTS = (0.25, 0.5, 1.0)
TOLERANCE = 0.01


@dataclass(frozen=True)
class Params:
    """One point of the hyper-parameter grid."""

    vectorizer: str
    C: float
    written_weight: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        """The parameters as recorded on the model card."""
        kwargs = vectorizer_kwargs(self.vectorizer)
        hidden = {"dtype", "stop_words", "tokenizer", "token_pattern"}
        shown = {k: v for k, v in kwargs.items() if k not in hidden}
        if "tokenizer" in kwargs:
            shown["tokens"] = {
                "pattern": TOKEN_PATTERN,
                "stop_words": f"scikit-learn English + {len(LEAKY_WORDS)} outlet/date words",
                "stemmer": "Snowball English (PyStemmer)",
            }
        return {
            "vectorizer": self.vectorizer,
            **shown,
            "C": self.C,
            "written_item_weight": self.written_weight,
        }


class RememberingTokenizer(StemmingTokenizer):
    """Training only: a :class:`StemmingTokenizer` that remembers each text's tokens for
    every fit of the training run. Cross-validation tokenises the same texts a few
    hundred times; the shipped model keeps the plain tokenizer."""

    memory: ClassVar[dict[tuple[str, tuple[str, ...], str], list[str]]] = {}

    def __call__(self, document: str) -> list[str]:
        key = (self.token_pattern, self.stop_words, document)
        found = self.memory.get(key)
        if found is None:
            found = self.memory[key] = super().__call__(document)
        return found

    @classmethod
    def forget(cls) -> None:
        """Drop what was remembered (at the end of a training run)."""
        cls.memory.clear()


def vectorizer_kwargs(name: str, remember: bool = False) -> dict[str, Any]:
    """Full TfidfVectorizer arguments for a named grid entry."""
    base = {
        "lowercase": True,
        "strip_accents": "unicode",
        "sublinear_tf": True,
        "dtype": np.float64,
    }
    if VECTORIZERS[name]["analyzer"] == "word":
        kind = RememberingTokenizer if remember else StemmingTokenizer
        tokenizer = kind(TOKEN_PATTERN, STOP_WORDS)
        base |= {"tokenizer": tokenizer, "token_pattern": None, "stop_words": None}
    return base | VECTORIZERS[name]


def make_vectorizer(name: str, remember: bool = False) -> TfidfVectorizer:
    """A fresh vectoriser for a grid entry (``remember``: for cross-validation fits)."""
    return TfidfVectorizer(**vectorizer_kwargs(name, remember))


def make_classifier(c: float) -> OneVsRestClassifier:
    """One logistic regression per label; balanced weights because positives are rare.
    Each regression takes per-item weights (see :func:`weighted`)."""
    with sklearn.config_context(enable_metadata_routing=True):
        regression = LogisticRegression(
            C=c, class_weight="balanced", solver="liblinear", random_state=SEED
        ).set_fit_request(sample_weight=True)
    return OneVsRestClassifier(regression)


def build_pipeline(params: Params, remember: bool = False) -> Pipeline:
    """The model: one Pipeline, TF-IDF then one-vs-rest logistic regression."""
    vectorizer = make_vectorizer(params.vectorizer, remember)
    return Pipeline([("tfidf", vectorizer), ("clf", make_classifier(params.C))])


def item_weights(n_real: int, n_written: int, written_weight: float) -> np.ndarray:
    """Per-item fitting weights: real items first, then the written ones."""
    return np.concatenate([np.ones(n_real), np.full(n_written, written_weight)])


def weighted(fit: Callable[..., Any], *args: Any, sample_weight: np.ndarray) -> Any:
    """``fit(*args, sample_weight=...)`` with scikit-learn's metadata routing on, which
    is how a Pipeline or a OneVsRestClassifier hands weights to the regressions."""
    with sklearn.config_context(enable_metadata_routing=True):
        return fit(*args, sample_weight=sample_weight)


def fit_pipeline(
    params: Params,
    real: Sequence[Example],
    written: Sequence[Example],
    remember: bool = True,
) -> Pipeline:
    """A pipeline for ``params`` fitted on real items and the written ones at their weight
    (``remember``: tokens remembered across fits, for cross-validation, not to ship)."""
    pipeline = build_pipeline(params, remember)
    documents = [e.document for e in real] + [e.document for e in written]
    y = np.vstack([label_matrix(real), label_matrix(written)])
    weights = item_weights(len(real), len(written), params.written_weight)
    return weighted(pipeline.fit, documents, y, sample_weight=weights)


def label_matrix(examples: Sequence[Example]) -> np.ndarray:
    """Items x labels, 1 where the item carries the label."""
    rows = [[label in e.labels for label in LABELS] for e in examples]
    return np.array(rows, dtype=int).reshape(-1, len(LABELS))


def strata(examples: Sequence[Example]) -> list[str]:
    """Stratify on the rarest label an item carries, so every fold gets the rare ones."""
    rarest_first = ("counter_propaganda", "recruitment", "territorial_loss", "attack")
    return [next((lab for lab in rarest_first if lab in e.labels), "none") for e in examples]


def best_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The score cut-off with the best F1 on these out-of-fold scores (midpoint to the next)."""
    order = np.argsort(-scores, kind="stable")
    ys, ss = y[order], scores[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    f1 = 2 * tp / (tp + fp + ys.sum() + 1e-12)
    # only cut between distinct scores
    distinct = np.append(ss[1:] < ss[:-1], True)
    f1 = np.where(distinct, f1, -1.0)
    i = int(np.argmax(f1))
    if i + 1 < len(ss):
        return float((ss[i] + ss[i + 1]) / 2)
    return float(ss[i])


def cross_fitted_predictions(
    y: np.ndarray,
    scores: np.ndarray,
    fold_of: np.ndarray,
    tune: Callable[[np.ndarray, np.ndarray], float] = best_threshold,
) -> np.ndarray:
    """0/1 predictions, each fold's thresholds tuned (by ``tune``) on the other folds' scores,
    so that no item's own label sets its threshold."""
    predicted = np.zeros(y.shape, dtype=int)
    for k in np.unique(fold_of):
        here, other = fold_of == k, fold_of != k
        for j in range(y.shape[1]):
            t = tune(y[other, j], scores[other, j])
            predicted[here, j] = scores[here, j] >= t
    return predicted


def tune_thresholds(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One threshold per label column."""
    return np.array([best_threshold(y[:, j], scores[:, j]) for j in range(y.shape[1])])


def _fit_scores(
    train: tuple[list[str], np.ndarray, int],
    test_docs: list[str],
    vec_name: str,
    cs: Sequence[float],
    written_weights: Sequence[float],
) -> dict[tuple[float, float], np.ndarray]:
    """Fit one vectoriser, then one classifier per C and written-item weight; the test
    docs' decision values for each. ``train`` is (documents, labels, how many of them
    are real)."""
    train_docs, y_train, n_real = train
    vectorizer = make_vectorizer(vec_name, remember=True)
    x_train = vectorizer.fit_transform(train_docs)
    x_test = vectorizer.transform(test_docs)
    out = {}
    for w in written_weights:
        weights = item_weights(n_real, len(train_docs) - n_real, w)
        for c in cs:
            fitted = weighted(make_classifier(c).fit, x_train, y_train, sample_weight=weights)
            out[(c, w)] = decisions(fitted, x_test)
    return out


def decisions(classifier: Any, x: Any) -> np.ndarray:
    """Raw decision values (items x labels) of a fitted one-vs-rest classifier."""
    return np.column_stack([est.decision_function(x) for est in classifier.estimators_])


def out_of_fold(
    real: Sequence[Example],
    written: Sequence[Example],
    grid_vectorizers: Sequence[str],
    cs: Sequence[float],
    written_weights: Sequence[float],
    folds: int,
    seed: int = SEED,
    advance: Advance = lambda _: None,
) -> dict[Params, np.ndarray]:
    """Out-of-fold decision values of the real items for every grid point; ``advance``
    is called after each fold and vectoriser."""
    y = label_matrix(real)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    oof = {
        Params(v, c, w): np.zeros(y.shape)
        for v in grid_vectorizers
        for c in cs
        for w in written_weights
    }
    written_docs = [e.document for e in written]
    y_written = label_matrix(written)
    split = splitter.split(np.zeros(len(real)), strata(real))
    for k, (train_idx, test_idx) in enumerate(split, 1):
        train_docs = [real[i].document for i in train_idx] + written_docs
        y_train = np.vstack([y[train_idx], y_written])
        test_docs = [real[i].document for i in test_idx]
        train = (train_docs, y_train, len(train_idx))
        for v in grid_vectorizers:
            for (c, w), scores in _fit_scores(train, test_docs, v, cs, written_weights).items():
                oof[Params(v, c, w)][test_idx] = scores
            advance(f"fold {k}/{folds} {v}")
    return oof


def macro_f1(y: np.ndarray, predicted: np.ndarray) -> float:
    """Mean F1 over labels."""
    _, _, f1, _ = precision_recall_fscore_support(y, predicted, average=None, zero_division=0)
    return float(np.mean(f1))


@dataclass
class Selection:
    """The chosen grid point, its calibrators and the thresholds on calibrated scores,
    with the inner score that chose it."""

    params: Params
    thresholds: np.ndarray
    inner_macro_f1: float
    calibrators: list[Calibrator] = field(default_factory=list)
    calibration_brier: list[dict[str, float]] = field(default_factory=list)
    oof_decisions: np.ndarray | None = None


def select(
    real: Sequence[Example],
    written: Sequence[Example],
    folds: int,
    seed: int = SEED,
    fixed: Params | None = None,
    advance: Advance = lambda _: None,
) -> Selection:
    """Pick hyper-parameters (unless ``fixed``), then fit each label's calibrator and tune
    its threshold on calibrated scores, all on out-of-fold predictions of these items."""
    y = label_matrix(real)
    if fixed:
        grid = [fixed.vectorizer], [fixed.C], [fixed.written_weight]
    else:
        # with no written items every weight gives the same fit: try one
        grid = list(SEARCHED), list(C_VALUES), list(WRITTEN_WEIGHTS if written else [1.0])
    oof = out_of_fold(real, written, grid[0], grid[1], grid[2], folds, seed, advance)
    candidates = []
    for params, scores in oof.items():
        thresholds = tune_thresholds(y, scores)
        candidates.append(Selection(params, thresholds, macro_f1(y, scores >= thresholds)))
    top = max(c.inner_macro_f1 for c in candidates)
    # Vectorisers are ordered cheapest first; take the first one within TOLERANCE of the
    # best, since smaller differences are noise (one rare-label item moves macro-F1 by
    # ~0.01) while a bigger vocabulary costs every request. C and the written-item weight
    # cost nothing at inference, so for that vectoriser take the best of them (the first
    # in grid order on a tie).
    cheapest = next(c for c in candidates if c.inner_macro_f1 >= top - TOLERANCE)
    same = [c for c in candidates if c.params.vectorizer == cheapest.params.vectorizer]
    chosen = max(same, key=lambda c: c.inner_macro_f1)
    return calibrated(chosen, y, oof[chosen.params], seed)


def calibrated(chosen: Selection, y: np.ndarray, z: np.ndarray, seed: int) -> Selection:
    """``chosen`` with its calibrators (fitted on the out-of-fold decision values ``z``)
    and its thresholds tuned again, on the calibrated scores."""
    calibrators, brier = calibration.fit_all(z, y, seed)
    thresholds = tune_thresholds(y, calibration.apply_all(calibrators, z))
    return replace(
        chosen,
        thresholds=thresholds,
        calibrators=calibrators,
        calibration_brier=brier,
        oof_decisions=z,
    )


@dataclass
class Evaluation:
    """Outer cross-validated predictions of every real item, and how they were made:
    calibrated scores, the regressions' own (uncalibrated) sigmoid, 0/1 predictions."""

    scores: np.ndarray
    raw: np.ndarray
    predicted: np.ndarray
    chosen: list[dict[str, Any]]


def nested_cv(
    real: Sequence[Example],
    written: Sequence[Example],
    outer: int = 5,
    inner: int = 5,
    seed: int = SEED,
    advance: Advance = lambda _: None,
    fixed: Params | None = None,
) -> Evaluation:
    """Outer folds evaluate; inside each, an inner CV fits the calibrators and tunes the
    thresholds, and also picks the hyper-parameters unless they are ``fixed``.
    ``advance`` is called after each inner step and each outer fit."""
    y = label_matrix(real)
    scores, raw = np.zeros(y.shape), np.zeros(y.shape)
    predicted = np.zeros(y.shape, dtype=int)
    chosen = []
    splitter = StratifiedKFold(n_splits=outer, shuffle=True, random_state=seed)
    for k, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(real)), strata(real)), 1):
        train = [real[i] for i in train_idx]

        def inner_step(note: str, k: int = k) -> None:
            advance(f"fold {k}/{outer}, inner {note}")

        selection = select(train, written, inner, seed, fixed, inner_step)
        pipeline = fit_pipeline(selection.params, train, written)
        z = decisions(
            pipeline.named_steps["clf"],
            pipeline.named_steps["tfidf"].transform([real[i].document for i in test_idx]),
        )
        raw[test_idx] = expit(z)
        scores[test_idx] = calibration.apply_all(selection.calibrators, z)
        predicted[test_idx] = scores[test_idx] >= selection.thresholds
        chosen.append(
            {
                "fold": k,
                **selection.params.as_dict(),
                "thresholds": selection.thresholds.round(4).tolist(),
                "calibration": [c.method for c in selection.calibrators],
            }
        )
        advance(
            f"fold {k}/{outer} fitted: {selection.params.vectorizer} C={selection.params.C:g} "
            f"written {selection.params.written_weight:g} inner macro-F1 "
            f"{selection.inner_macro_f1:.3f}"
        )
    return Evaluation(scores, raw, predicted, chosen)


def with_calibration(pipeline: Pipeline, calibrators: Sequence[Calibrator]) -> Pipeline:
    """The fitted pipeline with its classifier wrapped with one calibrator per label."""
    classifier = pipeline.named_steps["clf"]
    wrapped = CalibratedClassifier(classifier, calibrators)
    return Pipeline([("tfidf", pipeline.named_steps["tfidf"]), ("clf", wrapped)])


def metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Per-label precision, recall, F1, support; micro and macro F1; exact-match rate."""
    p, r, f, s = precision_recall_fscore_support(y, predicted, average=None, zero_division=0)
    _, _, micro, _ = precision_recall_fscore_support(y, predicted, average="micro", zero_division=0)
    return {
        "per_label": {
            label: {
                "precision": round(float(p[j]), 4),
                "recall": round(float(r[j]), 4),
                "f1": round(float(f[j]), 4),
                "support": int(s[j]),
            }
            for j, label in enumerate(LABELS)
        },
        "micro_f1": round(float(micro), 4),
        "macro_f1": round(float(np.mean(f)), 4),
        "exact_match": round(float(np.mean((y == predicted).all(axis=1))), 4) if len(y) else 0.0,
        "items": len(y),
    }


def metrics_by_source(
    examples: Sequence[Example], y: np.ndarray, predicted: np.ndarray
) -> dict[str, Any]:
    """The same metrics for each source file, since sources differ in length and style."""
    out = {}
    for origin in sorted({e.origin for e in examples}):
        rows = [i for i, e in enumerate(examples) if e.origin == origin]
        m = metrics(y[rows], predicted[rows])
        present = [lab for lab in LABELS if m["per_label"][lab]["support"]]
        out[origin] = {
            "items": m["items"],
            "micro_f1": m["micro_f1"],
            "exact_match": m["exact_match"],
            "f1": {lab: m["per_label"][lab]["f1"] for lab in present},
            "support": {lab: m["per_label"][lab]["support"] for lab in present},
        }
    return out


def add_display_words(pipeline: Pipeline, documents: Sequence[str]) -> None:
    """Teach a fitted pipeline's stemming tokenizer which word to show for each stem."""
    vectorizer = pipeline.named_steps["tfidf"]
    if isinstance(vectorizer.tokenizer, StemmingTokenizer):
        preprocess = vectorizer.build_preprocessor()
        stems = {stem for term in vectorizer.vocabulary_ for stem in term.split(" ")}
        vectorizer.tokenizer.learn_display((preprocess(d) for d in documents), stems)


def top_terms(pipeline: Pipeline, k: int = 15) -> dict[str, list[tuple[str, float]]]:
    """The k terms with the largest positive coefficient per label, in readable words."""
    names = term_names(pipeline.named_steps["tfidf"])
    out = {}
    for label, est in zip(LABELS, pipeline.named_steps["clf"].estimators_, strict=True):
        coef = est.coef_.ravel()
        order = np.argsort(-coef, kind="stable")[:k]
        out[label] = [(str(names[i]), round(float(coef[i]), 3)) for i in order]
    return out
