"""Evidence marks: every occurrence of a term, word forms included, in its label's runs."""

from __future__ import annotations

import model
from service.web.highlight import marks


def test_every_word_form_of_an_evidence_term_is_marked_with_its_label() -> None:
    shipped = model.load()
    text = "Troops recaptured the town; the recapture of the town took a week."
    term = next(t for s, e, t in shipped.spans(text) if text[s:e] == "recaptured")
    segments = marks(shipped.spans(text), text, {"territorial_loss": [term]})
    assert "".join(run for run, _ in segments) == text
    marked = [run for run, labels in segments if labels == ("territorial_loss",)]
    assert marked == ["recaptured", "recapture"]


def test_two_labels_on_one_word_and_a_two_word_term() -> None:
    text = "islamic state fighters"
    spans = [(0, 7, "islamic"), (8, 13, "state"), (14, 22, "fighters")]
    segments = marks(
        spans, text, {"attack": ["islamic state"], "recruitment": ["fighters", "state"]}
    )
    assert segments == [
        ("islamic", ("attack",)),
        (" ", ()),
        ("state", ("attack", "recruitment")),
        (" ", ()),
        ("fighters", ("recruitment",)),
    ]


def test_no_evidence_leaves_the_text_whole() -> None:
    assert marks([(0, 3, "war")], "war news", {}) == [("war news", ())]
