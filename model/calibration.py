"""Scores that mean probabilities: each label's raw score mapped through its calibrator.

One logistic regression per label gives a decision value ``z``; with balanced class
weights its sigmoid overstates the rare labels (of the items scored 0.5-0.7 for attack,
about 55 % carried it). Training fits, per label, on out-of-fold decision values, either

* ``platt``: ``p = sigmoid(a * z + b)``, or
* ``isotonic``: ``p`` linearly interpolated between fitted ``(x, y)`` knots of ``z``
  (constant beyond the ends), as scikit-learn's ``IsotonicRegression.predict`` does,

whichever cross-validates better. The calibrators are plain numbers, so the lean path
applies them in pure Python and the batch path with numpy, to the same result.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.multiclass import OneVsRestClassifier


def sigmoid(x: float) -> float:
    """The logistic function, without overflow for large negative ``x``."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@dataclass(frozen=True)
class Calibrator:
    """One label's map from decision value to probability."""

    method: str  # "identity" (plain sigmoid), "platt" or "isotonic"
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.method not in {"identity", "platt", "isotonic"}:
            raise ValueError(f"unknown calibration method {self.method!r}")
        if self.method == "isotonic" and (len(self.x) != len(self.y) or not self.x):
            raise ValueError("isotonic calibration needs as many x as y knots, at least one")

    def one(self, z: float) -> float:
        """The probability for one decision value."""
        if self.method == "isotonic":
            return _interp(z, self.x, self.y)
        return sigmoid(self.a * z + self.b)

    def many(self, z: np.ndarray) -> np.ndarray:
        """The probabilities for an array of decision values."""
        if self.method == "isotonic":
            return np.interp(z, np.asarray(self.x), np.asarray(self.y))
        return np.asarray(expit(self.a * z + self.b), dtype=np.float64)

    def as_dict(self) -> dict[str, Any]:
        """The calibrator as recorded on the card."""
        if self.method == "isotonic":
            return {"method": "isotonic", "knots": len(self.x)}
        return {"method": self.method, "a": round(self.a, 6), "b": round(self.b, 6)}


IDENTITY = Calibrator("identity")


def _interp(z: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """``np.interp(z, xs, ys)`` for one value (the same formula, so the same float)."""
    i = bisect_right(xs, z)
    if i == 0:
        return ys[0]
    if i == len(xs):
        return ys[-1]
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    if z == x0:
        return y0
    return (y1 - y0) / (x1 - x0) * (z - x0) + y0


class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """The pipeline's last step: the fitted one-vs-rest regressions and a calibrator per
    label. ``decision_function`` gives the raw decision values, ``predict_proba`` the
    calibrated probabilities."""

    def __init__(self, classifier: OneVsRestClassifier, calibrators: Sequence[Calibrator]) -> None:
        if len(calibrators) != len(classifier.estimators_):
            raise ValueError("one calibrator per label")
        self.classifier = classifier
        self.calibrators = tuple(calibrators)

    @property
    def estimators_(self) -> list[Any]:
        """The per-label logistic regressions."""
        return list(self.classifier.estimators_)

    @property
    def classes_(self) -> np.ndarray:
        """The label columns, as the one-vs-rest classifier has them."""
        return np.asarray(self.classifier.classes_)

    def __sklearn_is_fitted__(self) -> bool:
        """Always: it is built from fitted parts."""
        return True

    def fit(self, x: Any, y: Any) -> CalibratedClassifier:
        """Not fitted in place: training builds it from fitted parts."""
        raise TypeError("a CalibratedClassifier is built from a fitted classifier")

    def decision_function(self, x: Any) -> np.ndarray:
        """Raw decision values, items x labels."""
        return np.column_stack([est.decision_function(x) for est in self.classifier.estimators_])

    def predict_proba(self, x: Any) -> np.ndarray:
        """Calibrated probabilities, items x labels."""
        z = self.decision_function(x)
        return np.column_stack([c.many(z[:, j]) for j, c in enumerate(self.calibrators)])
