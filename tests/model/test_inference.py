"""Both scoring paths give the pipeline's own probabilities, and the same evidence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import model
from model import Item
from model.inference import LeanScorer, score_batch

TEXTS = [
    ("Suicide bomber kills 12 at checkpoint", "A car bomb struck an army post north of Baghdad."),
    ("Troops retake Sirte from Islamic State", "Government forces said the city was liberated."),
    ("Online recruiters lure teenagers to Syria", "Police say the boys travelled via Turkey."),
    ("Markets rally", ""),
    ("", "Clerics condemn extremist propaganda and launch a counter-narrative campaign."),
]


def documents(shared: Path | None = None) -> list[str]:
    docs = [model.compose(t, x) for t, x in TEXTS]
    if shared is not None:
        lines = (shared / "seed_articles.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
        docs += [model.compose(r["title"], r["text"]) for r in rows]
    return docs


def assert_paths_agree(loaded: model.Model, docs: list[str]) -> None:
    reference = loaded.pipeline.predict_proba(docs)
    lean = LeanScorer(loaded.pipeline)
    batch = score_batch(loaded.pipeline, docs)
    for doc, ref, b in zip(docs, reference, batch, strict=True):
        one = lean.score(doc)
        np.testing.assert_allclose(one.scores, ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.scores, ref, rtol=0, atol=1e-12)
        assert [[t for t, _ in ev] for ev in one.evidence] == [
            [t for t, _ in ev] for ev in b.evidence
        ]
        for ev_one, ev_b in zip(one.evidence, b.evidence, strict=True):
            np.testing.assert_allclose([w for _, w in ev_one], [w for _, w in ev_b], atol=1e-12)


def test_paths_agree_on_the_tiny_model(tiny_model_dir: Path) -> None:
    assert_paths_agree(model.load(tiny_model_dir), documents())


def test_paths_agree_on_the_shipped_model(shared_data: Path) -> None:
    assert_paths_agree(model.load(), documents(shared_data))


def test_evidence_weights_are_tfidf_times_coefficient(tiny_model_dir: Path) -> None:
    loaded = model.load(tiny_model_dir)
    doc = documents()[0]
    result = loaded.classify([Item("x", *TEXTS[0])])[0]
    vectorizer = loaded.pipeline.named_steps["tfidf"]
    row = vectorizer.transform([doc]).toarray()[0]
    for j, label in enumerate(loaded.labels):
        coef = loaded.pipeline.named_steps["clf"].estimators_[j].coef_.ravel()
        for term, weight in result.evidence[label]:
            i = vectorizer.vocabulary_[term]
            assert weight == pytest.approx(row[i] * coef[i], abs=1e-12)
            assert weight > 0


def test_classify_keeps_order_ids_and_all_scores(tiny_model_dir: Path) -> None:
    loaded = model.load(tiny_model_dir)
    items = [Item(str(i), t, x) for i, (t, x) in enumerate(TEXTS * 3)]  # 15: the batch path
    small = loaded.classify(items[:2])  # the lean path
    big = loaded.classify(items)
    assert [r.id for r in big] == [str(i) for i in range(15)]
    for r in big:
        assert set(r.scores) == set(model.LABELS)
        assert all(0.0 <= s <= 1.0 for s in r.scores.values())
        assert r.labels == [lab for lab in model.LABELS if r.scores[lab] >= loaded.thresholds[lab]]
    for a, b in zip(small, big[:2], strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-12)
        assert a.evidence == b.evidence or all(
            [t for t, _ in a.evidence[lab]] == [t for t, _ in b.evidence[lab]] for lab in a.evidence
        )
    assert loaded.classify(items, explain=False)[0].evidence == {}
