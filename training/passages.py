"""Passages of a long text: the pieces a story can be "partly about" a topic in.

A 5 KB report of an attack may hold one paragraph on how the attacker was radicalised;
scored as a whole, that paragraph is drowned by the rest. The experiments
(:mod:`training.experiments`) score each passage (read with the item's title, as a short
item is) and let the best one count, alone or mixed with the whole text's score; neither
beat its noise, so the shipped model reads whole texts only.
A passage is a run of paragraphs of at least ``MIN_CHARS``; a text with no paragraph
breaks is cut at sentence ends instead. Short texts (RSS items) have no passages.
"""

from __future__ import annotations

import re

LONG_TEXT = 1500  # characters: shorter texts are scored whole only
MIN_CHARS = 400  # a passage grows paragraph by paragraph to at least this
MAX_CHARS = 1200  # a longer paragraph is cut at sentence ends
MAX_PASSAGES = 24  # bounds the work on a huge text (the first ones carry the story)

_PARAGRAPHS = re.compile(r"\n\s*")
_SENTENCES = re.compile(r"(?<=[.!?])\s+")


def _pieces(text: str) -> list[str]:
    """Paragraphs, the over-long ones cut into sentence runs of at most MAX_CHARS."""
    out: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        if len(paragraph) <= MAX_CHARS:
            out.append(paragraph)
            continue
        run = ""
        for sentence in _SENTENCES.split(paragraph):
            if run and len(run) + len(sentence) > MAX_CHARS:
                out.append(run)
                run = ""
            run = f"{run} {sentence}" if run else sentence
        out.append(run)
    return [p for p in out if p.strip()]


def passages(text: str) -> list[str]:
    """The passages of ``text`` (none if it is short)."""
    if len(text) < LONG_TEXT:
        return []
    out: list[str] = []
    run = ""
    for piece in _pieces(text.strip()):
        run = f"{run}\n{piece}" if run else piece
        if len(run) >= MIN_CHARS:
            out.append(run)
            run = ""
            if len(out) == MAX_PASSAGES:
                return out
    if run:  # a short tail joins the last passage
        if out:
            out[-1] = f"{out[-1]}\n{run}"
        else:
            out.append(run)
    return out
