"""Reading feed lists from OPML files (what feed readers export)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from poller.errors import OPMLError


@dataclass(frozen=True)
class Outline:
    """One feed listed in an OPML file."""

    url: str
    title: str | None


def _parse(path: Path) -> ET.Element:
    # The file is the operator's own; expat (>= 2.4.1, bundled with Python 3.11) refuses
    # entity-expansion bombs and never fetches external entities.
    try:
        return ET.parse(path).getroot()  # noqa: S314
    except (OSError, ET.ParseError) as exc:
        raise OPMLError(f"cannot read {path}: {exc}") from exc


def read_opml(path: Path) -> list[Outline]:
    """Every outline with an ``xmlUrl``, in file order, without duplicates."""
    seen: set[str] = set()
    outlines = []
    for node in _parse(path).iter("outline"):
        url = (node.get("xmlUrl") or node.get("xmlurl") or "").strip()
        if url and url not in seen:
            seen.add(url)
            title = node.get("title") or node.get("text") or None
            # an exporter writes the URL as ``text`` when a feed has no title of its own
            outlines.append(Outline(url, None if title == url else title))
    return outlines
