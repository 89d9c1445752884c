"""What a long training says while it runs: a line per stage, and a progress bar with a
time estimate (tqdm) for each loop of fits, so ``make train`` is never silent for long."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from tqdm import tqdm

Advance = Callable[[str], None]


class Progress:
    """Training's voice: silent unless ``enabled`` (tests train quietly)."""

    def __init__(self, enabled: bool = False, stream: IO[str] | None = None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr

    def say(self, message: str) -> None:
        """One line about the stage training is in."""
        if self.enabled:
            tqdm.write(f"[training] {message}", file=self.stream)

    @contextmanager
    def steps(self, total: int, what: str) -> Iterator[Advance]:
        """A bar of ``total`` steps labelled ``what``; call the yielded function with a
        short note (the fold, the parameters) after each step."""
        with tqdm(
            total=total,
            desc=f"[training] {what}",
            disable=not self.enabled,
            file=self.stream,
            unit="step",
            mininterval=0.5,
            dynamic_ncols=True,
        ) as bar:

            def advance(note: str = "") -> None:
                bar.set_postfix_str(note, refresh=False)
                bar.update()

            yield advance


QUIET = Progress()
