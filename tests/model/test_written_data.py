"""The team's written training items stay valid and share no sentence with the real corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.check_written import main as check_written


def test_written_items_are_valid_and_original(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = check_written([])
    assert code == 0, capsys.readouterr().out
