"""Loading checks the card: a tampered artifact, a wrong label list or version is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import model
from model import CardMismatch, ModelError


@pytest.fixture
def copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "m"
    shutil.copytree(tiny_model_dir, target)
    return target


def edit_card(directory: Path, **changes: object) -> None:
    path = directory / "card.json"
    card = json.loads(path.read_text())
    card.update(changes)
    path.write_text(json.dumps(card))


def test_a_good_copy_loads(copy: Path) -> None:
    assert model.load(copy).labels == model.LABELS


def test_tampered_artifact_is_refused(copy: Path) -> None:
    with (copy / "wiretag.joblib").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(CardMismatch, match="artifact sha256 is"):
        model.load(copy)


def test_wrong_label_list_is_refused(copy: Path) -> None:
    edit_card(copy, labels=["attack", "territorial_loss", "recruitment", "counter_propaganda"])
    with pytest.raises(CardMismatch, match="the card's labels"):
        model.load(copy)


def test_other_scikit_learn_version_is_refused(copy: Path) -> None:
    card = json.loads((copy / "card.json").read_text())
    edit_card(copy, versions={**card["versions"], "scikit-learn": "0.24.2"})
    with pytest.raises(CardMismatch, match=r"trained with scikit-learn 0\.24\.2"):
        model.load(copy)


def test_missing_card_and_missing_artifact(copy: Path) -> None:
    (copy / "wiretag.joblib").unlink()
    with pytest.raises(ModelError, match="no model artifact"):
        model.load(copy)
    (copy / "card.json").unlink()
    with pytest.raises(ModelError, match="no model card"):
        model.load(copy)


def test_unreadable_card(copy: Path) -> None:
    (copy / "card.json").write_text("{oops")
    with pytest.raises(ModelError, match="unreadable model card"):
        model.load(copy)


def test_saved_artifact_holds_no_memory_address(copy: Path, tmp_path: Path) -> None:
    # scikit-learn caches id(stop_words) on the vectoriser; a saved address would make two
    # identical trainings write different bytes
    loaded = model.load(copy)
    vectorizer = loaded.pipeline.named_steps["tfidf"]
    vectorizer.transform(["Troops recapture the town"])  # sets the cache
    assert hasattr(vectorizer, "_stop_words_id")
    card = model.save(loaded.pipeline, dict(loaded.card), tmp_path / "again")
    assert not hasattr(
        model.load(tmp_path / "again").pipeline.named_steps["tfidf"], "_stop_words_id"
    )
    assert card["artifact_sha256"] == model.sha256_file(tmp_path / "again" / model.ARTIFACT_NAME)
