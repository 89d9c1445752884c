"""Fitting the calibrators and measuring calibration (ECE, Brier) on out-of-fold scores.

Each label's calibrator is fitted on out-of-fold decision values of the real items, so
it learns how the model's scores behave on items it has not seen. Platt scaling and
isotonic regression are both fitted; per label, the one with the lower Brier score in
a 5-fold cross-validation over those items is kept (Brier is a proper score: it rewards
probabilities that are both sharp and true).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from model import LABELS
from model.calibration import IDENTITY, Calibrator

METHODS = ("platt", "isotonic")
MIN_EXAMPLES = 20  # positives and negatives each, below which a label keeps the sigmoid
BINS = 10  # equal-width probability bins for the expected calibration error
CV_FOLDS = 5


def fit_platt(z: np.ndarray, y: np.ndarray) -> Calibrator:
    """``sigmoid(a z + b)`` fitted by (almost unregularised) logistic regression."""
    lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000).fit(z.reshape(-1, 1), y)
    return Calibrator("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))


def fit_isotonic(z: np.ndarray, y: np.ndarray) -> Calibrator:
    """A non-decreasing step-and-ramp map from ``z`` to the positive rate."""
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(z, y)
    xs = tuple(float(v) for v in iso.X_thresholds_)
    ys = tuple(float(v) for v in iso.y_thresholds_)
    return Calibrator("isotonic", x=xs, y=ys)


def fit_method(method: str, z: np.ndarray, y: np.ndarray) -> Calibrator:
    """A calibrator of the named method; the plain sigmoid when ``y`` has one class."""
    if len(np.unique(y)) < 2:
        return IDENTITY
    return fit_platt(z, y) if method == "platt" else fit_isotonic(z, y)


def cross_calibrated(
    method: str, z: np.ndarray, y: np.ndarray, seed: int, folds: int = CV_FOLDS
) -> np.ndarray:
    """Each item's probability from a calibrator fitted without it."""
    out = np.zeros(len(z))
    n_folds = min(folds, int(y.sum()), int(len(y) - y.sum()))
    if n_folds < 2:
        return fit_method(method, z, y).many(z)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fit_idx, test_idx in splitter.split(z.reshape(-1, 1), y):
        out[test_idx] = fit_method(method, z[fit_idx], y[fit_idx]).many(z[test_idx])
    return out


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared gap between probability and outcome."""
    return float(np.mean((p - y) ** 2))


def ece(y: np.ndarray, p: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: per equal-width bin, |mean score - positive rate|,
    weighted by the bin's share of items."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        here = which == b
        if here.any():
            total += here.mean() * abs(float(p[here].mean()) - float(y[here].mean()))
    return total


def reliability(y: np.ndarray, p: np.ndarray, bins: int = BINS) -> list[dict[str, float]]:
    """Per non-empty bin: mean score, positive rate and item count (for the diagram)."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        here = which == b
        if here.any():
            out.append(
                {
                    "score": round(float(p[here].mean()), 4),
                    "rate": round(float(y[here].mean()), 4),
                    "items": int(here.sum()),
                }
            )
    return out


def choose(z: np.ndarray, y: np.ndarray, seed: int) -> tuple[Calibrator, dict[str, float]]:
    """The method with the lower cross-validated Brier score, fitted on all of ``z``;
    and each method's cross-validated Brier score. With too few positives or negatives
    to fit one, or a Platt fit that would turn the ranking upside down, the regression's
    own sigmoid stays."""
    positives = int(y.sum())
    if min(positives, len(y) - positives) < MIN_EXAMPLES:
        return IDENTITY, {}
    scores = {m: brier(y, cross_calibrated(m, z, y, seed)) for m in METHODS}
    fitted = {m: fit_method(m, z, y) for m in METHODS}
    usable = [m for m in METHODS if fitted[m].method != "platt" or fitted[m].a > 0]
    best = min(usable, key=lambda m: scores[m])
    return fitted[best], {m: round(v, 5) for m, v in scores.items()}


def fit_all(
    z: np.ndarray, y: np.ndarray, seed: int
) -> tuple[list[Calibrator], list[dict[str, float]]]:
    """One chosen calibrator per label column, with the Brier scores that chose it."""
    chosen = [choose(z[:, j], y[:, j], seed) for j in range(y.shape[1])]
    return [c for c, _ in chosen], [s for _, s in chosen]


def apply_all(calibrators: Sequence[Calibrator], z: np.ndarray) -> np.ndarray:
    """Calibrated probabilities, items x labels."""
    return np.column_stack([c.many(z[:, j]) for j, c in enumerate(calibrators)]).reshape(z.shape)


def summary(y: np.ndarray, raw: np.ndarray, calibrated: np.ndarray) -> dict[str, Any]:
    """ECE and Brier per label, before (the regressions' own sigmoid) and after."""
    return {
        label: {
            "ece_before": round(ece(y[:, j], raw[:, j]), 4),
            "ece_after": round(ece(y[:, j], calibrated[:, j]), 4),
            "brier_before": round(brier(y[:, j], raw[:, j]), 4),
            "brier_after": round(brier(y[:, j], calibrated[:, j]), 4),
        }
        for j, label in enumerate(LABELS)
    }
