"""Training, step by step: read the corpus, choose, cross-validate, fit, save, report.

Each step is one function; :func:`train` only runs them in order and says what it is
doing (``progress``): a line per stage and a bar with a time estimate for every loop of
fits. The card is assembled in :mod:`training.card`, the report in
:mod:`training.report`, the command-line text in :mod:`training.text`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

import model as model_pkg
from model import LABELS, Item
from training import card as card_mod
from training import corpus as corpus_mod
from training.fit import (
    SEARCHED,
    SEED,
    Evaluation,
    Params,
    RememberingTokenizer,
    Selection,
    add_display_words,
    cross_fitted_predictions,
    decisions,
    fit_pipeline,
    label_matrix,
    metrics,
    nested_cv,
    select,
    strata,
    top_terms,
    with_calibration,
)
from training.progress import QUIET, Progress

REPEATS = 3  # fold assignments: one CV estimate on 155 positives moves by a point or two
LEARNING_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # of the real training items, for the curves


@dataclass
class Data:
    """The corpus split into the real items (evaluated) and the written ones (only ever
    in training folds)."""

    corpus: corpus_mod.Corpus
    real: list[corpus_mod.Example]
    written: list[corpus_mod.Example]

    @property
    def y(self) -> np.ndarray:
        """Real items x labels."""
        return label_matrix(self.real)


@dataclass
class Outcome:
    """Everything training measured, for the card and the report."""

    selection: Selection
    runs: list[Evaluation]  # one per fold assignment; the first is the headline
    nested: Evaluation
    learning: dict[str, Any]
    pipeline: Pipeline


def read_data(data: Sequence[str], exclude: Sequence[str], progress: Progress) -> Data:
    """Every corpus file named (minus the excluded ones), validated and de-duplicated."""
    paths = [str(p) for p in corpus_mod.expand(data) if not any(x in p.name for x in exclude)]
    corpus = corpus_mod.load(paths)
    real = [e for e in corpus.examples if not e.written]
    written = [e for e in corpus.examples if e.written]
    progress.say(
        f"{len(real)} real and {len(written)} written items from {len(paths)} files "
        f"({corpus.duplicates_dropped} duplicate texts counted once)"
    )
    return Data(corpus, real, written)


def choose(data: Data, inner_folds: int, progress: Progress) -> Selection:
    """Hyper-parameters, calibrators and thresholds by cross-validation on the real pool."""
    total = inner_folds * len(SEARCHED)
    with progress.steps(total, "choosing hyper-parameters") as advance:
        selection = select(data.real, data.written, inner_folds, SEED, advance=advance)
    params = selection.params
    progress.say(
        f"chosen: {params.vectorizer} C={params.C:g} written weight {params.written_weight:g} "
        f"calibration {[c.method for c in selection.calibrators]} "
        f"(inner macro-F1 {selection.inner_macro_f1:.3f})"
    )
    return selection


def cross_validate(
    data: Data, params: Params, folds: int, inner_folds: int, progress: Progress
) -> list[Evaluation]:
    """The chosen recipe over REPEATS fold assignments; calibrators and thresholds are
    fitted inside each training fold."""
    runs = []
    total = REPEATS * folds * (inner_folds + 1)
    with progress.steps(total, "cross-validating") as advance:
        for r in range(REPEATS):

            def labelled(note: str, r: int = r) -> None:
                advance(f"assignment {r + 1}/{REPEATS}, {note}")

            runs.append(
                nested_cv(data.real, data.written, folds, inner_folds, SEED + r, labelled, params)
            )
    macro = [metrics(data.y, run.predicted)["macro_f1"] for run in runs]
    progress.say(f"macro-F1 over {REPEATS} fold assignments: {macro}")
    return runs


def fully_nested(data: Data, folds: int, inner_folds: int, progress: Progress) -> Evaluation:
    """The stricter check: hyper-parameters also chosen inside each training fold."""
    total = folds * (inner_folds * len(SEARCHED) + 1)
    with progress.steps(total, "cross-validating fully nested") as advance:
        return nested_cv(data.real, data.written, folds, inner_folds, SEED, advance)


def learning_curve(data: Data, params: Params, folds: int, progress: Progress) -> dict[str, Any]:
    """Out-of-fold macro-F1 when only a fraction of the real training items is kept
    (written items all kept), over REPEATS fold assignments; each fold's thresholds are
    tuned on the other folds' scores."""
    y = data.y
    found: dict[float, list[float]] = {f: [] for f in LEARNING_FRACTIONS}
    total = REPEATS * folds * len(LEARNING_FRACTIONS)
    with progress.steps(total, "learning curves") as advance:
        for r in range(REPEATS):
            for fraction in LEARNING_FRACTIONS:
                z, fold_of = _fractional_oof(data, params, folds, SEED + r, fraction)
                found[fraction].append(
                    float(metrics(y, cross_fitted_predictions(y, z, fold_of))["macro_f1"])
                )
                for k in range(folds):
                    advance(f"assignment {r + 1}/{REPEATS}, {fraction:.0%} of items, fold {k + 1}")
    return {
        "fractions": list(LEARNING_FRACTIONS),
        "items": [round(f * len(data.real) * (folds - 1) / folds) for f in LEARNING_FRACTIONS],
        "macro_f1_mean": [round(float(np.mean(found[f])), 4) for f in LEARNING_FRACTIONS],
        "macro_f1_sd": [round(float(np.std(found[f])), 4) for f in LEARNING_FRACTIONS],
        "method": "out-of-fold macro-F1, real training items subsampled (stratified), "
        f"{REPEATS} fold assignments; thresholds tuned on the other folds' scores",
    }


def _fractional_oof(
    data: Data, params: Params, folds: int, seed: int, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    y = data.y
    z = np.zeros(y.shape)
    fold_of = np.zeros(len(data.real), dtype=int)
    rng = np.random.default_rng(seed)
    labels = strata(data.real)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(y)), labels)):
        kept = _subsample(train_idx, [labels[i] for i in train_idx], fraction, rng)
        pipeline = fit_pipeline(params, [data.real[i] for i in kept], data.written)
        x = pipeline.named_steps["tfidf"].transform([data.real[i].document for i in test_idx])
        z[test_idx] = decisions(pipeline.named_steps["clf"], x)
        fold_of[test_idx] = k
    return z, fold_of


def _subsample(
    rows: np.ndarray, labels: list[str], fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """``fraction`` of ``rows``, the same fraction of each stratum."""
    if fraction >= 1.0:
        return rows
    kept = []
    for stratum in sorted(set(labels)):
        members = rows[[i for i, lab in enumerate(labels) if lab == stratum]]
        n = max(1, round(fraction * len(members)))
        kept.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(kept))


def fit_final(data: Data, selection: Selection, progress: Progress) -> Pipeline:
    """The shipped pipeline: fitted on every real and written item, calibrated, and
    taught which word to show for each stem."""
    progress.say("fitting the final model on every item")
    pipeline = fit_pipeline(selection.params, data.real, data.written, remember=False)
    add_display_words(pipeline, [e.document for e in data.corpus.examples])
    return with_calibration(pipeline, selection.calibrators)


def train(
    data: Sequence[str],
    exclude: Sequence[str],
    check: Sequence[str],
    out: str,
    folds: int = 5,
    inner_folds: int = 5,
    progress: Progress = QUIET,
    report: bool = False,
) -> dict[str, Any]:
    """Cross-validate, choose, fit on everything, save artifact + card (and the report
    when asked); return the card."""
    started = time.perf_counter()
    try:
        return _train(data, exclude, check, out, folds, inner_folds, progress, report, started)
    finally:
        RememberingTokenizer.forget()


def _train(
    data: Sequence[str],
    exclude: Sequence[str],
    check: Sequence[str],
    out: str,
    folds: int,
    inner_folds: int,
    progress: Progress,
    report: bool,
    started: float,
) -> dict[str, Any]:
    items = read_data(data, exclude, progress)
    selection = choose(items, inner_folds, progress)
    runs = cross_validate(items, selection.params, folds, inner_folds, progress)
    nested = fully_nested(items, folds, inner_folds, progress)
    learning = learning_curve(items, selection.params, folds, progress)
    pipeline = fit_final(items, selection, progress)
    outcome = Outcome(selection, runs, nested, learning, pipeline)
    card = card_mod.build(items, outcome, folds, inner_folds, time.perf_counter() - started)
    out_dir = Path(out)
    card = model_pkg.save(pipeline, card, out_dir)
    if check:
        card["checks"] = {Path(f).name: evaluate([f], out_dir) for f in check}
        card = model_pkg.save(pipeline, card, out_dir)
    if report:
        from training import report as report_mod  # matplotlib: the "train" extra only

        progress.say(f"writing the report to {out_dir / report_mod.REPORT_NAME}")
        report_mod.write(out_dir, card, items, outcome)
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
