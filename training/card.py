"""The model card: what was trained on what, how it was chosen and how well it does."""

from __future__ import annotations

import datetime as dt
import platform
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy
import sklearn

from model import LABELS
from training import calibration
from training.corpus import Example
from training.fit import SEED, Evaluation, metrics, metrics_by_source, top_terms

if TYPE_CHECKING:
    from training.train import Data, Outcome


def _origin_counts(examples: Sequence[Example]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for kind in ("real", "written"):
        chosen = [e for e in examples if e.written == (kind == "written")]
        counts = Counter(label for e in chosen for label in (e.labels or ("none",)))
        out[kind] = {"items": len(chosen), **{lab: counts[lab] for lab in (*LABELS, "none")}}
    return out


def spread(y: np.ndarray, runs: Sequence[Evaluation]) -> dict[str, Any]:
    """Macro-F1 and per-label F1 over several fold assignments: mean, sd, each run."""
    found = [metrics(y, run.predicted) for run in runs]
    macro = [m["macro_f1"] for m in found]
    per_label = {label: [m["per_label"][label]["f1"] for m in found] for label in LABELS}
    return {
        "fold_seeds": [SEED + r for r in range(len(runs))],
        "macro_f1": {
            "mean": round(float(np.mean(macro)), 4),
            "sd": round(float(np.std(macro)), 4),
            "runs": macro,
        },
        "f1_mean": {label: round(float(np.mean(v)), 4) for label, v in per_label.items()},
        "f1_sd": {label: round(float(np.std(v)), 4) for label, v in per_label.items()},
    }


def _calibration(data: Data, outcome: Outcome) -> dict[str, Any]:
    first = outcome.runs[0]
    return {
        "method": "per label, Platt or isotonic on out-of-fold decision values, chosen by "
        "the lower 5-fold cross-validated Brier score; thresholds tuned after it. ECE "
        f"({calibration.BINS} equal-width bins) and Brier on the outer folds' predictions: "
        "before = the regressions' own sigmoid, after = calibrators fitted inside each "
        "training fold",
        "calibrators": {
            label: c.as_dict() | {"cv_brier": b}
            for label, c, b in zip(
                LABELS,
                outcome.selection.calibrators,
                outcome.selection.calibration_brier,
                strict=True,
            )
        },
        "out_of_fold": calibration.summary(data.y, first.raw, first.scores),
    }


def build(
    data: Data, outcome: Outcome, folds: int, inner_folds: int, seconds: float
) -> dict[str, Any]:
    """The card of a freshly trained model (before the artifact's hash is added)."""
    selection, first, y = outcome.selection, outcome.runs[0], data.y
    return {
        "name": "wiretag-topics",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "labels": list(LABELS),
        "thresholds": {
            lab: round(float(t), 6) for lab, t in zip(LABELS, selection.thresholds, strict=True)
        },
        "hyperparameters": selection.params.as_dict() | {"class_weight": "balanced", "seed": SEED},
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "data": {
            "files": data.corpus.files,
            "items_by_origin": _origin_counts(data.corpus.examples),
            "duplicate_texts_counted_once": data.corpus.duplicates_dropped,
        },
        "cross_validation": {
            "method": f"{folds} folds stratified by rarest label over the real items; "
            f"hyper-parameters chosen once by {inner_folds}-fold CV on the real pool; "
            f"calibrators and thresholds fitted by {inner_folds} inner folds inside each "
            "training fold; written items only in training folds",
            "overall": metrics(y, first.predicted),
            "by_source": metrics_by_source(data.real, y, first.predicted),
            "folds": first.chosen,
            "repeated": spread(y, outcome.runs),
            "fully_nested": {
                "method": "the same folds, with hyper-parameters also chosen inside each "
                "training fold (stricter, noisier)",
                "overall": metrics(y, outcome.nested.predicted),
                "folds": [
                    {k: f[k] for k in ("fold", "vectorizer", "C", "written_item_weight")}
                    for f in outcome.nested.chosen
                ],
            },
            "learning_curve": outcome.learning,
        },
        "calibration": _calibration(data, outcome),
        "top_terms": top_terms(outcome.pipeline),
        "training_seconds": round(seconds, 1),
    }
