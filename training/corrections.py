"""Analysts' corrections as training data: ``python -m training export-corrections``.

Every stored item an analyst corrected becomes one corpus line (the format of
``../shared/DESIGN.md``): its title and summary, the model's labels with the latest
verdict per label applied, and ``"source": "analyst"``.  ``make train
CORRECTIONS=FILE.jsonl`` trains on it first, so an analyst's item outranks an identical
text elsewhere in the corpus.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.labels import LABELS
from store import Store, StoredItem, effective_labels


def corpus_line(item: StoredItem, latest: dict[str, str]) -> dict[str, Any]:
    """The corpus item for one corrected stored item."""
    moment = item.published_at or item.fetched_at
    return {
        "id": f"analyst-{item.id}",
        "title": item.title,
        "text": item.summary,
        "labels": effective_labels(item.labels, latest, LABELS),
        "source": "analyst",
        "date": moment.date().isoformat(),
        "context": {
            "item_id": item.id,
            "feed_id": item.feed_id,
            "link": item.link,
            "model_version": item.model_version,
            "model_labels": list(item.labels),
            "verdicts": dict(sorted(latest.items())),
        },
    }


def export_corrections(
    store: Store, out: Path, progress: Callable[[str], None] = lambda _: None
) -> int:
    """Write every corrected item to ``out`` (JSON lines, replaced whole only once
    complete); return how many were written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    written = 0
    with partial.open("w", encoding="utf-8") as handle:
        for item, latest in store.corrected_items():
            if not item.title.strip() and not item.summary.strip():
                continue  # nothing to learn from (the corpus refuses such lines)
            handle.write(json.dumps(corpus_line(item, latest), ensure_ascii=False) + "\n")
            written += 1
            if written % 1000 == 0:
                progress(f"{written} corrected items written")
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(out)
    return written
