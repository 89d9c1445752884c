"""Writing the feed list as OPML 2.0, the file feed readers exchange; what
``GET /v1/feeds.opml`` answers and ``python -m poller feeds export`` writes, and what
``feeds import`` (:mod:`poller.opml`) reads back."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime
from email.utils import format_datetime

OPML_TYPE = "text/x-opml"
# characters XML 1.0 cannot hold at all (a title given through the API may have them)
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def render_opml(feeds: Iterable[tuple[str, str | None]], created: datetime) -> bytes:
    """An OPML 2.0 document (UTF-8) listing ``(url, title)`` pairs as RSS outlines.

    ``text`` is required on every outline: it is the title, else the URL; ``title`` is
    written only when the feed has one, so that reading the file back keeps "no title".
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "wiretag feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(created)
    body = ET.SubElement(root, "body")
    for url, title in feeds:
        title = _xml_text(title) if title else None
        attributes = {"type": "rss", "text": title or url, "xmlUrl": _xml_text(url)}
        if title:
            attributes["title"] = title
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
