"""The team's written training items stay valid and share no sentence with the real corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.check_written import check_item
from training.check_written import main as check_written


def test_written_items_are_valid_and_original(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = check_written([])
    assert code == 0, capsys.readouterr().out


GOOD = {"labels": ["attack"], "source": "written", "date": "2016-03-22"}


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({**GOOD, "title": "", "text": "A gunman opened fire at a bus stop."}, None),
        ({**GOOD, "title": "Gunman opens fire at bus stop", "text": ""}, None),
        ({**GOOD, "title": " ", "text": ""}, "needs a title or a text"),
        ({**GOOD, "title": 5, "text": "A gunman opened fire."}, "'title': Expected `str"),
        ({**GOOD, "title": "t", "text": "x", "labels": ["bombing"]}, "labels must be"),
        ({**GOOD, "title": "t", "text": "x", "source": "reuters"}, "source must be"),
        ({**GOOD, "title": "t", "text": "x", "date": "22/03/2016"}, "date must be"),
        (
            {**GOOD, "title": "", "text": "one two three four five six seven eight nine"},
            "8-word run",
        ),
    ],
)
def test_each_item_rule(item: dict[str, object], problem: str | None) -> None:
    grams = {"two three four five six seven eight nine"}
    found = check_item(item, "f.jsonl:1", set(), grams)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found
