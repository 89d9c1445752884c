"""The one reading of a yes/no word, for settings (``WIRETAG_...=on``) and query
arguments (``?explain=off``) alike, so that both accept the same words."""

from __future__ import annotations

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def parse_bool(text: str) -> bool:
    """True or False for one of the words (any case, spaces ignored); ValueError otherwise."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"must be true or false ({'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)})")
