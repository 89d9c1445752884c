"""What the training commands print: the evaluation report and a new model's headline."""

from __future__ import annotations

from typing import Any


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
    for label, c in card.get("calibration", {}).get("out_of_fold", {}).items():
        lines.append(
            f"  {label:<20} ECE {c['ece_before']:.3f} -> {c['ece_after']:.3f}  "
            f"Brier {c['brier_before']:.3f} -> {c['brier_after']:.3f}"
        )
    for name, report in card.get("checks", {}).items():
        lines.append(
            f"check {name}: exact {report['exact']}/{report['items']}, "
            f"macro-F1 {report['macro_f1']:.3f}"
        )
    return "\n".join(lines)
