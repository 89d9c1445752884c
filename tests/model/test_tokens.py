"""The stemming tokenizer: what it keeps, what it stores, and the words it shows."""

from __future__ import annotations

import json
import pickle
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import model
from model import Item
from model.tokens import StemmingTokenizer, Stems
from training.fit import STOP_WORDS, TOKEN_PATTERN

REPO = Path(__file__).resolve().parents[2]


def tokenizer() -> StemmingTokenizer:
    return StemmingTokenizer(TOKEN_PATTERN, STOP_WORDS)


def test_stop_words_go_before_stemming_and_variants_share_a_stem() -> None:
    tokens = tokenizer()("the army recaptured the town after recapturing 2 villages; reuters")
    assert tokens == ["armi", "recaptur", "town", "recaptur", "villag"]


def test_a_word_the_stemmer_fails_on_is_kept_as_it_is() -> None:
    def stem(word: str) -> str:
        if word == "odd":
            raise IndexError("string index out of range")
        return word[:3]

    stems = Stems(stem)
    assert [stems[w] for w in ("odd", "recruits")] == ["odd", "rec"]


def test_bulk_stemming_falls_back_to_word_by_word_when_the_stemmer_fails() -> None:
    def stem(word: str) -> str:
        if word == "odd":
            raise IndexError("string index out of range")
        return word[:3]

    def stem_all(words: list[str]) -> list[str]:
        return [stem(w) for w in words]

    stems = Stems(stem, stem_all=stem_all)
    assert stems.many(["recruits", "fighters"]) == ["rec", "fig"]
    assert len(stems) == 0  # bulk stems are the caller's to keep
    assert stems.many(["odd", "recruits"]) == ["odd", "rec"]


def test_the_stem_cache_is_bounded_and_keeps_learning() -> None:
    calls: list[str] = []

    def stem(word: str) -> str:
        calls.append(word)
        return word.upper()

    stems = Stems(stem, limit=2)
    assert [stems[w] for w in ("a", "b", "c", "c")] == ["A", "B", "C", "C"]
    # full at "c": it started afresh with "c", which is then looked up, not stemmed again
    assert dict(stems) == {"c": "C"}
    assert calls == ["a", "b", "c"]


def test_display_words_are_the_commonest_and_survive_pickling() -> None:
    tok = tokenizer()
    tok("recruited recruits recruiting")  # fills the cache
    tok.learn_display(
        ["recruited recruited recruits", "recruiting fighters", "the fighter"],
        keep={"recruit", "fighter"},
    )
    assert tok.display == {"fighter": "fighter", "recruit": "recruited"}
    assert tok.shown("recruit fighter") == "recruited fighter"
    assert tok.shown("unseen") == "unseen"
    copy = pickle.loads(pickle.dumps(tok))
    assert copy.__getstate__() == tok.__getstate__()
    assert len(copy.stems) == 0  # the cache of stems is not stored in the artifact
    assert copy("recruiting") == ["recruit"]


def test_evidence_shows_words_not_stems(tiny_model_dir: Path) -> None:
    loaded = model.load(tiny_model_dir)
    result = loaded.classify([Item("x", "Suicide bomber kills 12", "A car bomb struck.")])[0]
    terms = {t for ev in result.evidence.values() for t, _ in ev}
    assert {"suicide", "bomber"} <= terms  # the stems are "suicid" and "bomber"
    assert "suicid" not in terms


def test_threads_can_share_one_tokenizer() -> None:
    # a Snowball stemmer object is not thread-safe; the poller classifies from a thread pool
    words = [f"recruit{'ing' if i % 2 else 'ed'}{chr(97 + i % 26) * (i % 7)}" for i in range(4000)]
    expected = [StemmingTokenizer(TOKEN_PATTERN, STOP_WORDS)(w) for w in words]
    shared = tokenizer()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so stemming calls overlap
    try:
        with ThreadPoolExecutor(8) as pool:
            for _ in range(5):
                shared.stems.clear()
                got = list(pool.map(shared, words))
                assert got == expected
    finally:
        sys.setswitchinterval(interval)


def test_the_c_stemmer_gives_the_pure_python_stems_on_the_corpus_vocabulary(shared: Path) -> None:
    # PyStemmer (Snowball compiled to C) stems a never-seen word in well under a
    # microsecond, against ~13 us for snowballstemmer's pure Python; both must agree on
    # every word of the labelled and unlabelled news and the written items, as the model
    # sees them (lower-cased, accents stripped) and as written
    from sklearn.feature_extraction.text import strip_accents_unicode
    from snowballstemmer.english_stemmer import EnglishStemmer

    find = re.compile(TOKEN_PATTERN).findall
    words: set[str] = set()
    files = [*shared.glob("*/*.jsonl"), *(REPO / "training/data").glob("*.jsonl")]
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text = f"{row.get('title', '')} {row.get('text', '')}".lower()
            words.update(find(text), find(strip_accents_unicode(text)))
    assert len(words) > 60_000
    pure = EnglishStemmer()
    c_stems = tokenizer().stems  # the tokenizer's own stemmer, PyStemmer underneath
    differ = [w for w in sorted(words) if c_stems[w] != pure.stemWord(w)]
    assert differ == []


def test_spans_point_at_the_words_as_written_and_name_them_as_evidence_does(
    tiny_model_dir: Path,
) -> None:
    loaded = model.load(tiny_model_dir)
    text = "Troops RECAPTURE Mosul; the fighters\u2019 retreat from Café Gao, reuters said"
    spans = loaded.spans(text)
    assert [text[s:e] for s, e, _ in spans] == [
        "Troops",
        "RECAPTURE",
        "Mosul",
        "fighters",
        "retreat",
        "Gao",
    ]
    result = loaded.classify([Item("x", "", text)])[0]
    evidence_terms = {t for ev in result.evidence.values() for t, _ in ev}
    assert evidence_terms <= {term for _, _, term in spans}  # every evidence term is found
    words = tokenizer().spans("Recapturing the CAFÉ")
    assert [(w.start, w.end, w.word, w.stem) for w in words] == [
        (0, 11, "recapturing", "recaptur"),
        (16, 20, "cafe", "cafe"),
    ]
