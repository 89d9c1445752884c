"""Saving and loading the model artifact with its card; the only place joblib is used."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.pipeline import Pipeline

from model.inference import Scorer
from model.text import LABELS, Item, Result, compose
from model.tokens import StemmingTokenizer

ARTIFACT_NAME = "wiretag.joblib"
CARD_NAME = "card.json"
SHIPPED_DIR = Path(__file__).resolve().parent
LEAN_BATCH_MAX = 4  # up to this many items, the lean path beats one sparse batch pass
EVIDENCE_TERMS = 5

log = logging.getLogger(__name__)


class ModelError(Exception):
    """The model cannot be loaded or used."""


class CardMismatch(ModelError):
    """The artifact does not match its card: hash, labels or library versions differ."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


class Model:
    """A loaded, checked model: classify batches of items into labels, scores, evidence."""

    def __init__(self, pipeline: Pipeline, card: dict[str, Any], sha256: str) -> None:
        self.pipeline = pipeline
        self.card = card
        self.sha256 = sha256
        self.labels: tuple[str, ...] = tuple(card["labels"])
        self.thresholds: dict[str, float] = {k: float(v) for k, v in card["thresholds"].items()}
        self.version: str = str(card.get("version", sha256[:12]))
        self._scorer = Scorer(pipeline)
        self._cutoffs = np.array([self.thresholds[label] for label in self.labels])
        # label j passed <-> bit j set; every combination's label list, by its bits
        self._bits = 1 << np.arange(len(self.labels))
        self._chosen = [
            tuple(label for j, label in enumerate(self.labels) if code >> j & 1)
            for code in range(1 << len(self.labels))
        ]

    def classify(
        self, items: Sequence[Item], explain: bool = True, places: int | None = None
    ) -> list[Result]:
        """Labels, every label's score and (if asked) evidence, per item, in order.

        With ``places``, scores are rounded to that many decimal places (a batch's in one
        numpy call; labels are still chosen on the unrounded scores): what an answer shows.
        """
        documents = list(map(compose, [i.title for i in items], [i.text for i in items]))
        if len(documents) <= LEAN_BATCH_MAX:
            scored = [self._scorer.one(d, explain, EVIDENCE_TERMS) for d in documents]
            return [
                self._result(item, s.scores, s.evidence, explain, places)
                for item, s in zip(items, scored, strict=True)
            ]
        probabilities, evidence = self._scorer.arrays(documents, explain, EVIDENCE_TERMS)
        return self._results(items, probabilities, evidence, places)

    def _results(
        self,
        items: Sequence[Item],
        probabilities: np.ndarray,
        evidence: Sequence[Sequence[list[tuple[str, float]]]] | None,
        places: int | None = None,
    ) -> list[Result]:
        """A batch's results, built with C-level maps (they cost more than the scoring)."""
        labels = self.labels
        # each item's labels by the bits of the thresholds it passes: one lookup an item
        passed = ((probabilities >= self._cutoffs) @ self._bits).tolist()
        chosen = list(map(list, map(self._chosen.__getitem__, passed)))
        shown_scores = probabilities if places is None else probabilities.round(places)
        scores = list(map(dict, map(zip, repeat(labels), shown_scores.tolist())))
        if evidence is None:
            shown: Iterable[dict[str, list[tuple[str, float]]]] = [{} for _ in items]
        else:
            shown = map(dict, map(zip, repeat(labels), evidence))
        return list(map(Result, [i.id for i in items], chosen, scores, shown))

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Each word of ``text`` that is one of the model's features, as (start, end,
        term): ``text[start:end]`` as written, and the term as evidence names it (so the
        analysts' workspace can highlight an evidence term wherever it occurs). Titles and
        texts are read alike; call it on each."""
        tokenizer = self.pipeline.named_steps["tfidf"].tokenizer
        if not isinstance(tokenizer, StemmingTokenizer):
            return []
        vocabulary = self.pipeline.named_steps["tfidf"].vocabulary_
        return [
            (span.start, span.end, tokenizer.shown(span.stem))
            for span in tokenizer.spans(text)
            if span.stem in vocabulary
        ]

    def _result(
        self,
        item: Item,
        scores: list[float],
        evidence: Sequence[list[tuple[str, float]]],
        explain: bool,
        places: int | None = None,
    ) -> Result:
        by_label = dict(zip(self.labels, scores, strict=True))
        chosen = [label for label in self.labels if by_label[label] >= self.thresholds[label]]
        if places is not None:
            by_label = dict(zip(self.labels, map(round, scores, repeat(places)), strict=True))
        shown = dict(zip(self.labels, evidence, strict=True)) if explain else {}
        return Result(item.id, chosen, by_label, shown)


def _read_card(directory: Path) -> dict[str, Any]:
    path = directory / CARD_NAME
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: no model card") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable model card ({exc})") from exc
    if not isinstance(card, dict):
        raise ModelError(f"{path}: the model card must be a JSON object")
    return card


def check_card(card: dict[str, Any], artifact_sha256: str) -> None:
    """Raise :class:`CardMismatch` naming what differs between the card and this build."""
    problems = []
    if card.get("artifact_sha256") != artifact_sha256:
        problems.append(
            f"artifact sha256 is {artifact_sha256}, the card says {card.get('artifact_sha256')}"
        )
    if list(card.get("labels", [])) != list(LABELS):
        problems.append(f"the card's labels {card.get('labels')} are not {list(LABELS)}")
    thresholds = card.get("thresholds", {})
    if not isinstance(thresholds, dict) or sorted(thresholds) != sorted(LABELS):
        problems.append("the card needs one threshold per label")
    trained = str(card.get("versions", {}).get("scikit-learn", "unknown"))
    if _major_minor(trained) != _major_minor(sklearn.__version__):
        problems.append(
            f"trained with scikit-learn {trained}, this process has {sklearn.__version__}"
        )
    if problems:
        raise CardMismatch("model refused: " + "; ".join(problems))


def load(directory: Path | str | None = None) -> Model:
    """Load the model in ``directory`` (the shipped one by default) after checking its card."""
    start = time.perf_counter()
    directory = Path(directory) if directory is not None else SHIPPED_DIR
    artifact = directory / ARTIFACT_NAME
    card = _read_card(directory)
    if not artifact.is_file():
        raise ModelError(f"{artifact}: no model artifact")
    check_card(card, sha256_file(artifact))
    try:
        pipeline = joblib.load(artifact)
    except Exception as exc:  # unpickling can fail in many ways; all mean "unusable"
        raise ModelError(f"{artifact}: cannot be loaded ({exc})") from exc
    model = _build(pipeline, card, card["artifact_sha256"], artifact)
    log.info(
        "model %s loaded from %s in %.0f ms",
        model.version,
        directory,
        1000 * (time.perf_counter() - start),
    )
    return model


def _build(pipeline: Any, card: dict[str, Any], sha256: str, artifact: Path) -> Model:
    try:
        model = Model(pipeline, card, sha256)
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        raise ModelError(f"{artifact}: not a wiretag pipeline ({exc})") from exc
    if model._scorer.n_labels != len(model.labels):
        raise CardMismatch(
            f"model refused: the artifact scores {model._scorer.n_labels} labels, "
            f"the card lists {len(model.labels)}"
        )
    return model


def save(pipeline: Pipeline, card: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Write the artifact, then its card with the artifact's sha256; return the card."""
    directory.mkdir(parents=True, exist_ok=True)
    artifact = directory / ARTIFACT_NAME
    tmp = artifact.with_suffix(".tmp")
    for step in pipeline.named_steps.values():
        # scikit-learn caches id(stop_words), a memory address, to skip re-checking them;
        # without it the same training writes the same bytes (it re-checks once if needed)
        vars(step).pop("_stop_words_id", None)
    joblib.dump(pipeline, tmp, compress=3)
    tmp.replace(artifact)
    sha = sha256_file(artifact)
    card = {**card, "artifact_sha256": sha, "version": f"{card.get('date', '')[:10]}-{sha[:8]}"}
    card_tmp = directory / (CARD_NAME + ".tmp")
    card_tmp.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    card_tmp.replace(directory / CARD_NAME)
    return card
