"""The training report: ``report.md`` and its plots, next to the model it describes.

Everything in it comes from the first fold assignment's out-of-fold predictions of the
real items (calibrators and thresholds fitted inside each training fold), the card, and
a link to the experiment table (``experiments.md`` beside the model, written by
``python -m training.experiments``). Plots use matplotlib, which only training needs
(the ``train`` extra), so it is imported here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve

from model import LABELS
from training import calibration

if TYPE_CHECKING:
    from training.train import Data, Outcome

REPORT_NAME = "report.md"
IMAGES = "report"  # directory of the plots, beside report.md
EXPERIMENTS = "experiments.md"
WORST = 6  # misses shown per label and kind


def _save(fig: Any, path: Path) -> str:
    # no timestamp or software version in the file: the same figures give the same bytes
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return f"{IMAGES}/{path.name}"


def pr_curves(y: np.ndarray, scores: np.ndarray, thresholds: dict[str, float], path: Path) -> str:
    """Precision-recall curve per label, the shipped threshold's point marked."""
    fig, axes = plt.subplots(1, len(LABELS), figsize=(4 * len(LABELS), 3.6), sharey=True)
    for j, (label, ax) in enumerate(zip(LABELS, axes, strict=True)):
        precision, recall, _ = precision_recall_curve(y[:, j], scores[:, j])
        ax.plot(recall, precision, color="tab:blue")
        at = scores[:, j] >= thresholds[label]
        tp = float((at & (y[:, j] == 1)).sum())
        if at.any():
            ax.plot(tp / max(y[:, j].sum(), 1), tp / at.sum(), "o", color="tab:red")
        ax.set_title(label)
        ax.set_xlabel("recall")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("precision")
    fig.suptitle("Precision-recall, out of fold (red: the threshold's point)")
    return _save(fig, path)


def reliability_diagrams(y: np.ndarray, raw: np.ndarray, scores: np.ndarray, path: Path) -> str:
    """Per label: positive rate against mean score per bin, before and after calibration."""
    fig, axes = plt.subplots(1, len(LABELS), figsize=(4 * len(LABELS), 3.8), sharey=True)
    for j, (label, ax) in enumerate(zip(LABELS, axes, strict=True)):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        for p, name, colour in ((raw, "before", "tab:orange"), (scores, "after", "tab:blue")):
            bins = calibration.reliability(y[:, j], p[:, j])
            ax.plot(
                [b["score"] for b in bins],
                [b["rate"] for b in bins],
                "o-",
                color=colour,
                label=f"{name} (ECE {calibration.ece(y[:, j], p[:, j]):.3f})",
            )
        ax.set_title(label)
        ax.set_xlabel("mean score in bin")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share that carries the label")
    fig.suptitle("Reliability, out of fold: before and after calibration")
    return _save(fig, path)


def learning_plot(learning: dict[str, Any], path: Path) -> str:
    """Macro-F1 against the number of real training items, with its spread."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    mean, sd = np.array(learning["macro_f1_mean"]), np.array(learning["macro_f1_sd"])
    ax.errorbar(learning["items"], mean, yerr=sd, fmt="o-", capsize=4)
    ax.set_xlabel("real training items per fold")
    ax.set_ylabel("out-of-fold macro-F1")
    ax.set_title("Learning curve (3 fold assignments, ± sd)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _per_label(card: dict[str, Any]) -> list[str]:
    cv = card["cross_validation"]
    spread = cv["repeated"]
    rows = [
        [
            label,
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            f"{spread['f1_mean'][label]:.3f} ± {spread['f1_sd'][label]:.3f}",
            m["support"],
            f"{card['thresholds'][label]:.3f}",
        ]
        for label, m in cv["overall"]["per_label"].items()
    ]
    return _table(
        ["label", "precision", "recall", "F1", "F1 over 3 assignments", "support", "threshold"],
        rows,
    )


def _by_source(card: dict[str, Any]) -> list[str]:
    rows = []
    for source, m in card["cross_validation"]["by_source"].items():
        f1 = ", ".join(f"{lab} {v:.2f} (n={m['support'][lab]})" for lab, v in m["f1"].items())
        rows.append([source, m["items"], f"{m['micro_f1']:.3f}", f"{m['exact_match']:.3f}", f1])
    return _table(["source", "items", "micro-F1", "exact", "F1 per label (positives)"], rows)


def _calibration_table(card: dict[str, Any]) -> list[str]:
    cal = card["calibration"]
    rows = [
        [
            label,
            cal["calibrators"][label]["method"],
            f"{c['ece_before']:.4f}",
            f"{c['ece_after']:.4f}",
            f"{c['brier_before']:.4f}",
            f"{c['brier_after']:.4f}",
        ]
        for label, c in cal["out_of_fold"].items()
    ]
    return _table(
        ["label", "calibrator", "ECE before", "ECE after", "Brier before", "Brier after"], rows
    )


def co_occurrence_errors(y: np.ndarray, predicted: np.ndarray) -> list[str]:
    """Rows: the items carrying a label (or none); columns: how many of them got each
    label wrongly (a false positive) or missed it (a false negative)."""
    rows = []
    groups = [(label, y[:, j] == 1) for j, label in enumerate(LABELS)]
    groups.append(("none", y.sum(axis=1) == 0))
    for name, members in groups:
        cells: list[Any] = [name, int(members.sum())]
        for j in range(len(LABELS)):
            fp = int((members & (y[:, j] == 0) & (predicted[:, j] == 1)).sum())
            fn = int((members & (y[:, j] == 1) & (predicted[:, j] == 0)).sum())
            cells.append(f"+{fp} / -{fn}")
        rows.append(cells)
    return _table(["items carrying", "items", *LABELS], rows)


def _short(text: str, n: int = 110) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= n else text[: n - 1] + "…"


def worst_misses(data: Data, scores: np.ndarray, predicted: np.ndarray) -> list[str]:
    """Per label, the surest false positives and the faintest false negatives."""
    y, lines = data.y, []
    for j, label in enumerate(LABELS):
        fp = np.flatnonzero((y[:, j] == 0) & (predicted[:, j] == 1))
        fn = np.flatnonzero((y[:, j] == 1) & (predicted[:, j] == 0))
        worst_fp = fp[np.argsort(-scores[fp, j], kind="stable")][:WORST]
        worst_fn = fn[np.argsort(scores[fn, j], kind="stable")][:WORST]
        lines.append(f"### {label}: {len(fp)} false positives, {len(fn)} false negatives\n")
        rows = []
        for kind, picked in (("false +", worst_fp), ("false −", worst_fn)):
            for i in picked:
                e = data.real[i]
                rows.append(
                    [
                        kind,
                        f"{scores[i, j]:.3f}",
                        _short(e.title or e.text),
                        e.origin,
                        ", ".join(e.labels) or "none",
                    ]
                )
        lines += _table(["", "score", "title (or text)", "source", "true labels"], rows)
    return lines


def _experiments() -> list[str]:
    return [
        "Each modelling idea tried against this recipe, with its out-of-fold macro-F1 and "
        f"per-label F1 over three fold assignments: [{EXPERIMENTS}]({EXPERIMENTS}) (written "
        "by `python -m training.experiments`).",
        "",
    ]


def _top_terms(card: dict[str, Any]) -> list[str]:
    rows = [[label, ", ".join(t for t, _ in terms)] for label, terms in card["top_terms"].items()]
    return _table(["label", "strongest terms (largest coefficients)"], rows)


def write(directory: Path, card: dict[str, Any], data: Data, outcome: Outcome) -> Path:
    """Write report.md and its plots into ``directory``; return the report's path."""
    images = directory / IMAGES
    images.mkdir(parents=True, exist_ok=True)
    first, y = outcome.runs[0], data.y
    cv = card["cross_validation"]
    spread = cv["repeated"]["macro_f1"]
    lines = [
        f"# Training report: model {card['version']}",
        "",
        f"Trained {card['date']} on {len(data.real)} real and {len(data.written)} written "
        f"items in {card['training_seconds']} s. Figures are out of fold over the real items "
        f"({cv['method']}).",
        "",
        f"**Macro-F1 {cv['overall']['macro_f1']:.3f}** (micro-F1 {cv['overall']['micro_f1']:.3f}); "
        f"over {len(spread['runs'])} fold assignments {spread['mean']:.3f} ± {spread['sd']:.3f}; "
        f"fully nested {cv['fully_nested']['overall']['macro_f1']:.3f}.",
        "",
        "## Per label",
        "",
        *_per_label(card),
        f"![precision-recall]({pr_curves(y, first.scores, card['thresholds'], images / 'pr_curves.png')})",
        "",
        "## Calibration",
        "",
        card["calibration"]["method"] + ".",
        "",
        *_calibration_table(card),
        f"![reliability]({reliability_diagrams(y, first.raw, first.scores, images / 'reliability.png')})",
        "",
        "## Per source file",
        "",
        *_by_source(card),
        "## Label co-occurrence errors",
        "",
        "For the items carrying each label (or none): `+n` items wrongly given the column's "
        "label, `-n` items that carry it and missed it.",
        "",
        *co_occurrence_errors(y, first.predicted),
        "## Learning curve",
        "",
        f"{cv['learning_curve']['method']}.",
        "",
        *_table(
            ["real training items", "macro-F1"],
            [
                [n, f"{m:.3f} ± {s:.3f}"]
                for n, m, s in zip(
                    cv["learning_curve"]["items"],
                    cv["learning_curve"]["macro_f1_mean"],
                    cv["learning_curve"]["macro_f1_sd"],
                    strict=True,
                )
            ],
        ),
        f"![learning curve]({learning_plot(cv['learning_curve'], images / 'learning_curve.png')})",
        "",
        "## Strongest terms",
        "",
        *_top_terms(card),
        "## Worst out-of-fold misses",
        "",
        *worst_misses(data, first.scores, first.predicted),
        "## Experiments",
        "",
        *_experiments(),
    ]
    path = directory / REPORT_NAME
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
