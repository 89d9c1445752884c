"""Training end to end on the tiny corpus: artifact, card, determinism, evaluation."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

import model
from model import LABELS, Item
from training import train as train_mod
from training.__main__ import main as training_main
from training.corpus import load
from training.fit import (
    Params,
    build_pipeline,
    fit_pipeline,
    item_weights,
    label_matrix,
    select,
)


def test_train_writes_artifact_and_a_complete_card(tiny_model_dir: Path, tiny_corpus: Path) -> None:
    card = json.loads((tiny_model_dir / "card.json").read_text())
    assert card["labels"] == list(LABELS)
    assert set(card["thresholds"]) == set(LABELS)
    assert all(0 < t < 1 for t in card["thresholds"].values())
    assert card["artifact_sha256"] == model.sha256_file(tiny_model_dir / "wiretag.joblib")
    assert set(card["versions"]) >= {"python", "scikit-learn", "numpy"}
    assert card["data"]["files"][str(tiny_corpus)]["items"] == 40
    assert card["data"]["items_by_origin"]["real"]["recruitment"] == 8
    cv = card["cross_validation"]["overall"]
    assert set(cv["per_label"]) == set(LABELS)
    assert 0.0 <= cv["macro_f1"] <= 1.0
    nested = card["cross_validation"]["fully_nested"]["overall"]
    assert nested["items"] == cv["items"] == 40
    assert card["hyperparameters"]["vectorizer"] in {"word1", "word12"}
    assert len(card["top_terms"]["attack"]) == 15


def test_tiny_model_learns_the_templates(tiny_model_dir: Path) -> None:
    loaded = model.load(tiny_model_dir)
    results = loaded.classify(
        [
            Item("1", "Army recaptures Tikrit from Islamic State as fighters retreat", ""),
            Item("2", "Central bank holds interest rates as inflation cools", ""),
        ]
    )
    assert "territorial_loss" in results[0].labels
    assert results[1].labels == []


def test_training_twice_gives_the_same_metrics(
    tiny_model_dir: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    train_mod.train([str(tiny_corpus)], [], [], str(tmp_path), folds=3, inner_folds=2)
    again = json.loads((tmp_path / "card.json").read_text())
    first = json.loads((tiny_model_dir / "card.json").read_text())
    assert again["cross_validation"] == first["cross_validation"]
    assert again["thresholds"] == first["thresholds"]
    assert again["artifact_sha256"] == first["artifact_sha256"]  # the same bytes


def test_written_items_never_enter_evaluation(tiny_corpus: Path, tmp_path: Path) -> None:
    written = tmp_path / "written.jsonl"
    written.write_text(
        json.dumps(
            {
                "id": "w1",
                "title": "Imams preach against extremism online",
                "text": "",
                "labels": ["counter_propaganda"],
                "source": "written",
            }
        )
        + "\n"
    )
    card = train_mod.train([str(tiny_corpus), str(written)], [], [], str(tmp_path / "m"), 3, 2)
    assert card["cross_validation"]["overall"]["items"] == 40  # the 40 real ones only
    assert card["data"]["items_by_origin"]["written"]["items"] == 1


def test_evaluate_command_prints_json(
    tiny_model_dir: Path, tiny_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = training_main(
        ["evaluate", "--data", str(tiny_corpus), "--model", str(tiny_model_dir), "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(report) >= {"macro_f1", "micro_f1", "per_label"}
    assert set(report["per_label"]["attack"]) == {"precision", "recall", "f1", "support"}
    assert report["per_label"]["attack"]["support"] == 8


def test_train_command_reports_a_corpus_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "title": "t", "text": "", "labels": ["nope"]}\n')
    code = training_main(["train", "--data", str(bad), "--out", str(tmp_path / "m")])
    assert code == 2
    assert f"{bad}:1: unknown label" in capsys.readouterr().err


def test_written_items_count_at_their_weight(tiny_corpus: Path) -> None:
    examples = load([str(tiny_corpus)]).examples
    # every counter_propaganda item becomes a written one
    written = [replace(e, origin="written") for e in examples if "counter_propaganda" in e.labels]
    real = [e for e in examples if "counter_propaganda" not in e.labels]
    assert written and all(e.written for e in written) and not any(e.written for e in real)

    def coefficients(pipeline: Pipeline) -> np.ndarray:
        return np.vstack([e.coef_ for e in pipeline.named_steps["clf"].estimators_])

    # weight 1 is the plain, unweighted fit of the same items
    plain = build_pipeline(Params("word1", 8.0)).fit(
        [e.document for e in real + written], label_matrix(real + written)
    )
    full = coefficients(fit_pipeline(Params("word1", 8.0, 1.0), real, written))
    np.testing.assert_allclose(full, coefficients(plain), rtol=1e-6, atol=1e-9)
    # at a quarter weight the written items pull the fit less far towards themselves
    j = LABELS.index("counter_propaganda")
    docs = [e.document for e in written]
    scores = {
        w: fit_pipeline(Params("word1", 8.0, w), real, written).predict_proba(docs)[:, j]
        for w in (1.0, 0.25)
    }
    assert (scores[0.25] < scores[1.0]).all()


def test_item_weights_put_real_items_first() -> None:
    assert item_weights(2, 3, 0.25).tolist() == [1.0, 1.0, 0.25, 0.25, 0.25]


def test_without_written_items_the_weight_is_not_searched(tiny_corpus: Path) -> None:
    real = load([str(tiny_corpus)]).examples
    assert select(real, [], folds=2).params.written_weight == 1.0


def test_training_says_what_it_does_with_each_repeat_labelled(tiny_model_dir: Path) -> None:
    said = (tiny_model_dir.parent / "progress.log").read_text(encoding="utf-8")
    for stage in (
        "40 real and 0 written items",
        "choosing hyper-parameters",
        "chosen: word1",
        "cross-validating",
        "fully nested",
        "learning curves",
        "fitting the final model",
        "writing the report",
    ):
        assert stage in said, stage
    # the bar names the fold assignment and the fold of its latest step, and counts every
    # step: 3 assignments x 3 folds x (2 inner folds + the outer fit)
    assert "27/27" in said and "assignment 3/3, fold 3/3 fitted: word1" in said
    assert "outer fold" not in said  # the old unlabelled repeats
    for bar in ("choosing", "cross-validating", "fully nested", "learning curves"):
        assert re.search(bar + r"[^\n]*: 100%\|", said), bar  # each bar ran to its end


def test_report_has_every_section_and_its_plots(tiny_model_dir: Path) -> None:
    report = (tiny_model_dir / "report.md").read_text(encoding="utf-8")
    for section in (
        "## Per label",
        "## Calibration",
        "## Per source file",
        "## Label co-occurrence errors",
        "## Learning curve",
        "## Strongest terms",
        "## Worst out-of-fold misses",
        "## Experiments",
    ):
        assert section in report, section
    for image in ("pr_curves.png", "reliability.png", "learning_curve.png"):
        path = tiny_model_dir / "report" / image
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
        assert f"(report/{image})" in report
    card = json.loads((tiny_model_dir / "card.json").read_text())
    assert f"Training report: model {card['version']}" in report
    assert len(card["cross_validation"]["learning_curve"]["macro_f1_mean"]) == 4
    assert set(card["calibration"]["out_of_fold"]) == set(LABELS)
