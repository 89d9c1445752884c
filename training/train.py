"""The two training commands: train (corpus → artifact + card) and evaluate (model × file)."""

from __future__ import annotations

import datetime as dt
import platform
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn

import model as model_pkg
from model import LABELS, Item
from training import corpus as corpus_mod
from training.fit import (
    SEED,
    Progress,
    add_display_words,
    fit_pipeline,
    label_matrix,
    metrics,
    metrics_by_source,
    nested_cv,
    select,
    top_terms,
)


def _filtered(patterns: Sequence[str], exclude: Sequence[str]) -> list[str]:
    paths = corpus_mod.expand(patterns)
    return [str(p) for p in paths if not any(x in p.name for x in exclude)]


def _origin_counts(examples: Sequence[corpus_mod.Example]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for kind in ("real", "written"):
        chosen = [e for e in examples if e.written == (kind == "written")]
        counts = Counter(label for e in chosen for label in (e.labels or ("none",)))
        out[kind] = {"items": len(chosen), **{lab: counts[lab] for lab in (*LABELS, "none")}}
    return out


REPEATS = 3  # fold assignments: one CV estimate on 23 positives moves by several points


def _spread(y: np.ndarray, runs: Sequence[Any]) -> dict[str, Any]:
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
    }


def train(
    data: Sequence[str],
    exclude: Sequence[str],
    check: Sequence[str],
    out: str,
    folds: int = 5,
    inner_folds: int = 5,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Cross-validate, choose, fit on everything, save artifact + card; return the card."""
    started = time.perf_counter()
    corpus = corpus_mod.load(_filtered(data, exclude))
    real = [e for e in corpus.examples if not e.written]
    written = [e for e in corpus.examples if e.written]
    progress(
        f"{len(real)} real and {len(written)} written items "
        f"({corpus.duplicates_dropped} duplicate texts counted once)"
    )
    progress("choosing hyper-parameters and thresholds by cross-validation on the real pool")
    selection = select(real, written, inner_folds, SEED)
    progress(
        f"chosen: {selection.params.vectorizer} C={selection.params.C} "
        f"written weight {selection.params.written_weight}"
    )
    y = label_matrix(real)
    progress("cross-validating with those hyper-parameters, thresholds tuned inside each fold")
    evaluation = nested_cv(real, written, folds, inner_folds, SEED, progress, selection.params)
    progress(f"repeating with {REPEATS - 1} other fold assignments, to show the spread")
    repeats = [evaluation] + [
        nested_cv(real, written, folds, inner_folds, SEED + r, progress, selection.params)
        for r in range(1, REPEATS)
    ]
    progress("cross-validating fully nested: hyper-parameters chosen inside each fold too")
    nested = nested_cv(real, written, folds, inner_folds, SEED, progress)
    pipeline = fit_pipeline(selection.params, real, written)
    add_display_words(pipeline, [e.document for e in corpus.examples])
    card: dict[str, Any] = {
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
            "files": corpus.files,
            "items_by_origin": _origin_counts(corpus.examples),
            "duplicate_texts_counted_once": corpus.duplicates_dropped,
        },
        "cross_validation": {
            "method": f"{folds} folds stratified by rarest label over the real items; "
            f"hyper-parameters chosen once by {inner_folds}-fold CV on the real pool; "
            f"thresholds tuned by {inner_folds} inner folds inside each training fold; "
            "written items only in training folds",
            "overall": metrics(y, evaluation.predicted),
            "by_source": metrics_by_source(real, y, evaluation.predicted),
            "folds": evaluation.chosen,
            "repeated": _spread(y, repeats),
            "fully_nested": {
                "method": "the same folds, with hyper-parameters also chosen inside each "
                "training fold (stricter, noisier)",
                "overall": metrics(y, nested.predicted),
                "folds": [
                    {k: f[k] for k in ("fold", "vectorizer", "C", "written_item_weight")}
                    for f in nested.chosen
                ],
            },
        },
        "top_terms": top_terms(pipeline),
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    out_dir = Path(out)
    card = model_pkg.save(pipeline, card, out_dir)
    if check:
        card["checks"] = {Path(f).name: evaluate([f], out_dir) for f in check}
        card = model_pkg.save(pipeline, card, out_dir)
    return card


def evaluate(data: Sequence[str], model_dir: str | Path | None) -> dict[str, Any]:
    """Score a saved model on labelled items: metrics, strongest terms, per-item misses."""
    corpus = corpus_mod.load(list(data))
    loaded = model_pkg.load(model_dir)
    items = [Item(e.id, e.title, e.text) for e in corpus.examples]
    results = loaded.classify(items, explain=False)
    y = label_matrix(corpus.examples)
    predicted = np.array([[lab in r.labels for lab in LABELS] for r in results], dtype=int)
    report = metrics(y, predicted)
    report["exact"] = int((y == predicted).all(axis=1).sum())
    report["model"] = {"version": loaded.version, "sha256": loaded.sha256}
    report["top_terms"] = top_terms(loaded.pipeline)
    report["misses"] = [
        {"id": e.id, "expected": list(e.labels), "got": r.labels}
        for e, r in zip(corpus.examples, results, strict=True)
        if list(e.labels) != r.labels
    ]
    return report


def format_report(report: dict[str, Any]) -> str:
    """A human-readable evaluation report."""
    lines = [
        f"model {report['model']['version']}  items {report['items']}  "
        f"exact {report['exact']}/{report['items']}",
        f"{'label':<20}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}",
    ]
    for label, m in report["per_label"].items():
        lines.append(
            f"{label:<20}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}{m['support']:>9}"
        )
    lines.append(f"micro-F1 {report['micro_f1']:.3f}   macro-F1 {report['macro_f1']:.3f}")
    lines.append("strongest terms:")
    for label, terms in report["top_terms"].items():
        lines.append(f"  {label}: " + ", ".join(t for t, _ in terms))
    for miss in report["misses"][:20]:
        lines.append(f"  miss {miss['id']}: expected {miss['expected']} got {miss['got']}")
    return "\n".join(lines)


def format_card(card: dict[str, Any]) -> str:
    """The headline figures of a freshly trained model."""
    cv = card["cross_validation"]["overall"]
    lines = [
        f"model {card['version']} written ({card['training_seconds']} s)",
        f"cross-validated macro-F1 {cv['macro_f1']:.3f}  micro-F1 {cv['micro_f1']:.3f}",
    ]
    lines += [
        f"  {lab:<20} P {m['precision']:.3f} R {m['recall']:.3f} "
        f"F1 {m['f1']:.3f} (n={m['support']})"
        for lab, m in cv["per_label"].items()
    ]
    spread = card["cross_validation"].get("repeated", {}).get("macro_f1")
    if spread:
        lines.append(
            f"over {len(spread['runs'])} fold assignments: macro-F1 {spread['mean']:.3f} "
            f"± {spread['sd']:.3f} {spread['runs']}"
        )
    strict = card["cross_validation"].get("fully_nested", {}).get("overall")
    if strict:
        lines.append(
            f"fully nested (parameters chosen per fold too): macro-F1 {strict['macro_f1']:.3f}"
        )
    for name, report in card.get("checks", {}).items():
        lines.append(
            f"check {name}: exact {report['exact']}/{report['items']}, "
            f"macro-F1 {report['macro_f1']:.3f}"
        )
    return "\n".join(lines)
