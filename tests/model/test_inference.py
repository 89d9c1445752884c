"""The fast scoring paths give the pipeline's own features, probabilities and evidence."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer, strip_accents_unicode
from sklearn.pipeline import Pipeline

import model
from model import Item, inference
from model.calibration import IDENTITY, CalibratedClassifier, Calibrator
from model.inference import Featurizer, Scorer, _evidence_order, strip_accents, term_names
from training.fit import make_vectorizer, with_calibration

TEXTS = [
    ("Suicide bomber kills 12 at checkpoint", "A car bomb struck an army post north of Baghdad."),
    ("Troops retake Sirte from Islamic State", "Government forces said the city was liberated."),
    ("Online recruiters lure teenagers to Syria", "Police say the boys travelled via Turkey."),
    ("Markets rally", ""),
    ("", "Clerics condemn extremist propaganda and launch a counter-narrative campaign."),
]
# what feeds send besides plain English: accents, ligatures, curly quotes, other scripts,
# combining marks, letters with no lowercase, markup debris and nothing at all
AWKWARD = [
    "Café bombing in Saint-Étienne: naïve recruits, the ﬁghters’ “caliphate”",
    "ＩＳＩＳ ｆｉｇｈｔｅｒｓ retreat from Raqqa — Kurds ℌ ℍ enter the city",
    "Cafe\u0301 cafe\u0301 CAFÉ café — the same word written four ways",
    "Боевики ИГИЛ покинули город; مقاتلو داعش ينسحبون من المدينة",
    "the and of to in with by said Reuters Monday",  # only stop and outlet words
    "&lt;b&gt;Suicide&lt;/b&gt; bomber #39;s attack &amp; hostage-taking",
    "",
    "   \n\t ",
    "bomb " * 300 + "attack " * 3,
    # news punctuation (curly quotes, dashes, ellipsis, no-break space) around plain words,
    # and runs that are not tokens: digits or underscores in a word, single letters
    "Militants\u2019 \u201ccaliphate\u201d \u2014 a \u2018state\u2019\u2026 fell\u00a0today",
    "al\u2011Shabaab and al\u2013Qaeda: isn\u2019t O\u2019Neill\u2019s covid19 abc_def _x x2 a b",
    'ISIS-K fighters\' 2016 offensive; bomb-maker/recruiter (aka "the Emir") 3rd',
]


def documents(shared: Path | None = None) -> list[str]:
    docs = [model.compose(t, x) for t, x in TEXTS] + AWKWARD
    if shared is not None:
        lines = (shared / "seed_articles.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
        docs += [model.compose(r["title"], r["text"]) for r in rows]
    return docs


def assert_same_matrix(vectorizer: TfidfVectorizer, docs: list[str]) -> None:
    expected = vectorizer.transform(docs).tocsr()
    got = Featurizer(vectorizer).matrix(docs)
    expected.sort_indices()
    got.sort_indices()
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_allclose(got.data, expected.data, rtol=0, atol=1e-12)


def test_strip_accents_matches_scikit_learn_on_every_code_point() -> None:
    # every assigned code point below U+30000, in chunks, through both functions
    chars = [chr(c) for c in range(0x30000) if unicodedata.category(chr(c)) not in {"Cs", "Cn"}]
    for start in range(0, len(chars), 4096):
        chunk = "".join(chars[start : start + 4096])
        assert strip_accents(chunk) == strip_accents_unicode(chunk)
    for text in AWKWARD:
        assert strip_accents(text.lower()) == strip_accents_unicode(text.lower())


def test_featurizer_gives_the_vectorizers_matrix_on_awkward_text() -> None:
    train = [model.compose(t, x) for t, x in TEXTS] + AWKWARD
    for name in ("word1", "word12"):
        vectorizer = make_vectorizer(name).set_params(min_df=1).fit(train)
        assert Featurizer(vectorizer)._fast
        assert_same_matrix(vectorizer, [*train, "Kurds enter Raqqa after the fighters retreat"])


@pytest.mark.parametrize(
    "options",
    [
        {"analyzer": "char_wb", "ngram_range": (2, 4)},  # falls back to scikit-learn's analyser
        {"ngram_range": (1, 3)},  # so does a trigram vocabulary
        {"binary": True, "ngram_range": (1, 2)},
        {"lowercase": False, "strip_accents": None, "sublinear_tf": False},
    ],
)
def test_featurizer_follows_other_vectorizer_settings(options: dict) -> None:
    docs = [model.compose(t, x) for t, x in TEXTS] + AWKWARD
    vectorizer = TfidfVectorizer(**options).fit(docs)
    assert_same_matrix(vectorizer, docs)


def test_featurizer_gives_the_shipped_vectorizers_matrix_on_the_corpus(shared_data: Path) -> None:
    vectorizer = model.load().pipeline.named_steps["tfidf"]
    docs = documents()
    for path in sorted(shared_data.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        docs += [model.compose(r.get("title", ""), r.get("text", "")) for r in rows]
    assert len(docs) > 2700
    assert_same_matrix(vectorizer, docs)


def assert_paths_agree(loaded: model.Model | Pipeline, docs: list[str]) -> None:
    pipeline = loaded if isinstance(loaded, Pipeline) else loaded.pipeline
    reference = pipeline.predict_proba(docs)
    scorer = Scorer(pipeline)
    batch = scorer.batch(docs)
    for doc, ref, b in zip(docs, reference, batch, strict=True):
        one = scorer.one(doc)
        np.testing.assert_allclose(one.scores, ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.scores, ref, rtol=0, atol=1e-12)
        assert [[t for t, _ in ev] for ev in one.evidence] == [
            [t for t, _ in ev] for ev in b.evidence
        ]
        for ev_one, ev_b in zip(one.evidence, b.evidence, strict=True):
            np.testing.assert_allclose([w for _, w in ev_one], [w for _, w in ev_b], atol=1e-12)


def test_paths_agree_on_the_tiny_model(tiny_model_dir: Path) -> None:
    assert_paths_agree(model.load(tiny_model_dir), documents())


def test_paths_agree_with_every_kind_of_calibrator(tiny_model_dir: Path) -> None:
    pipeline = model.load(tiny_model_dir).pipeline
    fitted = pipeline.named_steps["clf"]
    assert isinstance(fitted, CalibratedClassifier)
    calibrators = [
        Calibrator("platt", a=0.8, b=-1.1),
        Calibrator("isotonic", x=(-3.0, -1.0, 0.5, 2.0), y=(0.01, 0.2, 0.6, 0.97)),
        IDENTITY,
        Calibrator("isotonic", x=(0.0,), y=(0.3,)),  # a constant
    ]
    calibrated = with_calibration(
        Pipeline([("tfidf", pipeline.named_steps["tfidf"]), ("clf", fitted.classifier)]),
        calibrators,
    )
    assert_paths_agree(calibrated, documents())
    raw = fitted.decision_function(pipeline.named_steps["tfidf"].transform(documents()))
    np.testing.assert_allclose(calibrated.predict_proba(documents())[:, 2], expit(raw[:, 2]))


def test_paths_agree_on_the_shipped_model(shared_data: Path) -> None:
    assert_paths_agree(model.load(), documents(shared_data))


def test_evidence_weights_are_tfidf_times_coefficient(tiny_model_dir: Path) -> None:
    loaded = model.load(tiny_model_dir)
    doc = documents()[0]
    result = loaded.classify([Item("x", *TEXTS[0])])[0]
    vectorizer = loaded.pipeline.named_steps["tfidf"]
    row = vectorizer.transform([doc]).toarray()[0]
    feature = {name: i for i, name in enumerate(term_names(vectorizer))}
    for j, label in enumerate(loaded.labels):
        coef = loaded.pipeline.named_steps["clf"].estimators_[j].coef_.ravel()
        for term, weight in result.evidence[label]:
            i = feature[term]
            assert weight == round(row[i] * coef[i], 4)  # rounded once, in the model
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


def test_places_rounds_the_scores_and_nothing_else(tiny_model_dir: Path) -> None:
    loaded = model.load(tiny_model_dir)
    items = [Item(str(i), t, x) for i, (t, x) in enumerate(TEXTS * 3)]
    for batch in (items[:2], items):  # the lean path and the batch path
        plain, shown = loaded.classify(batch), loaded.classify(batch, places=4)
        for p, s in zip(plain, shown, strict=True):
            assert s.scores == {k: float(np.round(v, 4)) for k, v in p.scores.items()}
            assert (s.id, s.labels, s.evidence) == (p.id, p.labels, p.evidence)


def test_evidence_order_is_by_group_then_value_then_term() -> None:
    # many ties on purpose: equal values inside a group must come out by term id; the
    # contributions arrive as the batch's entries do, by term within each group
    rng = np.random.default_rng(7)
    for n_groups in (300, 70_000):  # the radix-sorted and the wide group numbers
        n = 5000
        group = rng.integers(0, n_groups, n)
        terms = rng.permutation(40_000)[:n]
        arrival = np.lexsort((terms, group))
        group, terms = group[arrival], terms[arrival]
        for values in (rng.integers(1, 6, n) / 4.0, rng.random(n)):  # ties, and none
            np.testing.assert_array_equal(
                _evidence_order(group, values), np.lexsort((terms, -values, group))
            )


def test_batch_evidence_of_an_item_without_known_words(tiny_model_dir: Path) -> None:
    scorer = Scorer(model.load(tiny_model_dir).pipeline)
    batch = scorer.batch(["zzzz qqqq", "", "Troops recapture Mosul"])
    assert list(batch[0].evidence) == list(batch[1].evidence) == [[] for _ in model.LABELS]
    one = scorer.one("Troops recapture Mosul").evidence
    assert [[t for t, _ in ev] for ev in batch[2].evidence] == [[t for t, _ in ev] for ev in one]
    assert any(one)
    nothing = scorer.batch(["", "zzzz"])  # no contribution at all in the batch
    assert [list(s.evidence) for s in nothing] == [[[] for _ in model.LABELS]] * 2


def test_punctuation_turned_to_spaces_is_never_a_word_character() -> None:
    marks = [chr(c) for c in range(0x110000) if inference._PUNCTUATION.fullmatch(chr(c))]
    assert "\u2019" in marks and "\u2014" in marks and "\u00a0" in marks
    assert not [c for c in marks if re.fullmatch(r"\w", c)]


def test_the_run_cache_is_bounded() -> None:
    docs = [model.compose(t, x) for t, x in TEXTS] + AWKWARD
    for name in ("word1", "word12"):
        vectorizer = make_vectorizer(name).set_params(min_df=1).fit(docs)
        featurizer = Featurizer(vectorizer)
        featurizer._runs._limit = 3  # type: ignore[attr-defined]
        got = featurizer.matrix(docs)
        assert 0 < len(featurizer._runs) <= 3
        np.testing.assert_allclose(got.toarray(), vectorizer.transform(docs).toarray(), atol=1e-12)


def random_words(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return " ".join("".join(rng.choice(letters, rng.integers(1, 11))) for _ in range(n))


def test_texts_of_many_new_words_are_learnt_in_bulk_with_the_same_matrix() -> None:
    # over 64 never-seen runs in one text take the bulk path (one call to the stemmer);
    # real words, stop words, digits, single letters and repeats are mixed in
    train = [model.compose(t, x) for t, x in TEXTS] + AWKWARD
    mixed = " ".join(f"{w} the recruits 12 x bomb{i % 3} attacks" for i, w in enumerate(TEXTS))
    # the batch path splits texts joined by a record separator: one inside a text too
    marked = "suicide\x1ebomber attack\x1e \x1e recruits"
    docs = [random_words(400, 1), random_words(300, 2) + " " + mixed, mixed * 20, marked, *train]
    for name in ("word1", "word12"):
        vectorizer = make_vectorizer(name).set_params(min_df=1).fit(train + docs[:1])
        assert_same_matrix(vectorizer, docs)
        featurizer = Featurizer(vectorizer)
        featurizer._runs._limit = 50  # type: ignore[attr-defined]
        got = featurizer.matrix(docs)
        assert 0 < len(featurizer._runs) <= 50
        np.testing.assert_allclose(got.toarray(), vectorizer.transform(docs).toarray(), atol=1e-12)
