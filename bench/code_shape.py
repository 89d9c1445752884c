"""Code shape per package: function lengths (median, p90), the largest module, total lines.

    .venv/bin/python bench/code_shape.py [CHECKOUT]    # e.g. a worktree of main, for "before"

Counts every ``def`` (methods and nested functions too) from its ``def`` line to its last
line, docstring included, as issue 10 counted them; a module's size is its line count.
The packages are the product's (``[tool.setuptools] packages``), not tests or benchmarks.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

PACKAGES = ("common", "settings", "model", "training", "service", "poller", "store", "stories")


def function_lengths(source: str) -> list[int]:
    """The length in lines of every function defined in ``source``."""
    return [
        node.end_lineno - node.lineno + 1
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno
    ]


def p90(values: list[int]) -> float:
    """The 90th percentile, interpolated (statistics.quantiles, inclusive)."""
    if len(values) < 2:
        return float(values[0]) if values else 0.0
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def modules(root: Path, package: str) -> dict[str, str]:
    """The package's modules: path relative to the checkout -> source."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted((root / package).rglob("*.py"))}


def row(name: str, sources: dict[str, str]) -> str:
    """One table line: functions, median and p90 length, lines, the largest module."""
    lengths = [n for source in sources.values() for n in function_lengths(source)]
    sizes = {path: len(source.splitlines()) for path, source in sources.items()}
    largest = max(sizes, key=sizes.__getitem__)
    median = float(statistics.median(lengths)) if lengths else 0.0
    return (
        f"{name:<9} {len(lengths):>5} {median:>7.1f} {p90(lengths):>6.1f} "
        f"{sum(sizes.values()):>6}  {largest} ({sizes[largest]})"
    )


def main() -> int:
    """Print the table for the checkout given (default: this one)."""
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__)
        return 0
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    every: dict[str, str] = {}
    print(f"{'package':<9} {'defs':>5} {'median':>7} {'p90':>6} {'lines':>6}  largest module")
    for package in PACKAGES:
        sources = modules(root, package)
        if sources:
            every.update(sources)
            print(row(package, sources))
    print(row("all", every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
