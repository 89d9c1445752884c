"""The news item's shape, parsed in one place for every caller.

An item is a JSON object ``{"id"?, "title"?, "text"?, "summary"?, "url"?}``: every field a
string or null, other fields ignored.  ``text`` is the article body; feeds give a
``summary`` instead, and ``text`` wins when both come.  A title or a body must hold
something other than whitespace.  The service, ``python -m model classify``, the training
corpus reader and the written-items check all read items through :func:`parse_item` or
the :class:`Item` type, so they agree on that shape and name the field at fault alike.

:data:`ITEM_RULE` is the title-or-body rule as JSON Schema, for the OpenAPI document:
the same pattern is used by the check, so the document is exactly as strict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

CONTENT = r"\S"  # "holds something other than whitespace", in Python and in JSON Schema
_CONTENT = re.compile(CONTENT)
NO_CONTENT = "needs a title or a text (or summary) that is not blank"
_WHERE = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>.*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\.\.\.\]")


class ItemError(ValueError):
    """An item that breaks the shape; ``field`` names the field at fault (None: the whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _has_content(value: str | None) -> bool:
    return value is not None and _CONTENT.search(value) is not None


class Item(msgspec.Struct):
    """One news item as clients and corpora send it."""

    id: str | None = None
    title: str | None = None
    text: str | None = None
    summary: str | None = None
    url: str | None = None

    # the __post_init__ rule below, for the generated document
    schema_extra: ClassVar[dict[str, Any]] = {
        "description": (
            "One news item. A title or a text/summary must hold more than whitespace; "
            "`text` is used when both `text` and `summary` are given. Other fields are "
            "ignored."
        ),
        "anyOf": [
            {
                "required": ["title"],
                "properties": {"title": {"type": "string", "pattern": CONTENT}},
            },
            {"required": ["text"], "properties": {"text": {"type": "string", "pattern": CONTENT}}},
            {
                "required": ["summary"],
                "properties": {
                    "text": {"type": "null"},
                    "summary": {"type": "string", "pattern": CONTENT},
                },
            },
        ],
    }

    def __post_init__(self) -> None:
        if not _has_content(self.title) and not _has_content(self.body):
            raise ValueError(NO_CONTENT)

    @property
    def body(self) -> str:
        """The text the model reads after the title: ``text``, else ``summary``, else ''."""
        if self.text is not None:
            return self.text
        return self.summary or ""


def located(exc: msgspec.ValidationError) -> tuple[str, list[str | int]]:
    """msgspec's message without its location, and the location as keys and indexes."""
    found = _WHERE.match(str(exc))
    assert found is not None  # the pattern matches any text
    path: list[str | int] = []
    for name, index in _STEP.findall(found["path"] or ""):
        path.append(name if name else int(index) if index else "...")
    return found["message"], path


def item_error(exc: msgspec.ValidationError) -> ItemError:
    """An :class:`ItemError` naming the field of ``exc`` (relative to one item)."""
    message, path = located(exc)
    if message == NO_CONTENT:
        return ItemError(message, "text")
    field = next((step for step in reversed(path) if isinstance(step, str)), None)
    return ItemError(f"'{field}': {message}" if field else message, field)


def parse_item(raw: bytes | str | Mapping[str, Any]) -> Item:
    """One item from a JSON text or an already parsed object; :class:`ItemError` if bad."""
    try:
        if isinstance(raw, bytes | str):
            return msgspec.json.decode(raw, type=Item)
        return msgspec.convert(raw, Item)
    except msgspec.ValidationError as exc:
        raise item_error(exc) from None
    except (msgspec.DecodeError, RecursionError) as exc:  # malformed, or absurdly nested
        raise ItemError(f"invalid JSON ({exc})") from None
