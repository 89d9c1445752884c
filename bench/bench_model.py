"""Model benchmark: throughput, single-item latency, load time, memory, worst-case CPU.

Reports, in one run: batches of RSS items and of ~5 KB articles with and without evidence
(also in batches of 100 as the service gets them, and with the answers made JSON-ready),
one RSS item and one 5 KB article with evidence, the model's load time and memory, the
artifact's size, and the CPU of one 1 MiB request of 256 items of never-seen random words
with PyStemmer (shipped) against the pure-Python stemmer it replaced.

Compares the shipped model with the plain baseline
``Pipeline([TfidfVectorizer(ngram_range=(1, 2)), OneVsRestClassifier(LogisticRegression())])``
trained on the same data, in one run:

    .venv/bin/python bench/bench_model.py [--shared ../shared] [--json]

Needs ../shared (the labelled corpus) beside the checkout.
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import model  # noqa: E402
from model import Item  # noqa: E402
from training import corpus as corpus_mod  # noqa: E402
from training.fit import SEED, label_matrix, metrics, strata  # noqa: E402


def baseline() -> Pipeline:
    """The stock pipeline the issue names."""
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(ngram_range=(1, 2))),
            ("clf", OneVsRestClassifier(LogisticRegression(max_iter=1000))),
        ]
    )


def baseline_macro_f1(real: list, written: list) -> float:
    """5-fold out-of-fold macro-F1 of the baseline (same folds and seed as training)."""
    y = label_matrix(real)
    predicted = np.zeros(y.shape, dtype=int)
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    for train_idx, test_idx in splitter.split(np.zeros(len(real)), strata(real)):
        docs = [real[i].document for i in train_idx] + [e.document for e in written]
        pipe = baseline().fit(docs, np.vstack([y[train_idx], label_matrix(written)]))
        predicted[test_idx] = pipe.predict([real[i].document for i in test_idx])
    return float(metrics(y, predicted)["macro_f1"])


def rate(fn, batch: list, seconds: float = 3.0) -> float:
    """Items per second of ``fn(batch)``, repeated for about ``seconds``."""
    fn(batch)  # warm up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(batch)
        done += len(batch)
    return done / (time.perf_counter() - start)


ROUNDS = 5


def rates(cases: dict[str, tuple], seconds: float = 1.0) -> dict[str, int]:
    """Items per second of each ``(fn, batch)``: the cases take turns for ROUNDS rounds and
    each keeps its median, so a change in machine load hits all of them alike."""
    seen: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (fn, batch) in cases.items():
            seen[name].append(rate(fn, batch, seconds))
    return {name: round(statistics.median(v)) for name, v in seen.items()}


def latency_us(fn, repeat: int = 2000) -> dict[str, float]:
    """Median and p99 of single calls, in microseconds."""
    for _ in range(50):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {
        "p50": round(statistics.median(samples), 1),
        "p99": round(samples[int(0.99 * len(samples))], 1),
    }


PEAK = "import re; print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"


def load_in_subprocess() -> dict[str, float]:
    """Load time and peak RSS (VmHWM, which exec resets) of fresh processes, with and without the model."""
    code = (
        "import time; t = time.perf_counter(); import model; m = model.load(); "
        "m.classify([model.Item('a', 'title', 'text')]); print(time.perf_counter() - t); " + PEAK
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    seconds, kib = out.stdout.split()
    bare_code = "import sklearn.pipeline, sklearn.linear_model, scipy.sparse, numpy; " + PEAK
    bare = subprocess.run(
        [sys.executable, "-c", bare_code], capture_output=True, text=True, check=True
    )
    load = (
        "import time, model; t = time.perf_counter(); model.load(); print(time.perf_counter() - t)"
    )
    warm = subprocess.run(
        [sys.executable, "-c", load], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return {
        "load_seconds_model_only": round(float(warm.stdout), 3),
        "load_seconds_incl_imports": round(float(seconds), 3),
        "peak_rss_mib": round(int(kib) / 1024, 1),
        "peak_rss_mib_libraries_only": round(int(bare.stdout) / 1024, 1),
    }


def random_words_request(seed: int = 7) -> list[Item]:
    """The worst case the service accepts: 256 items of never-seen words, 1 MiB in all."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    items = []
    for i in range(256):
        words, size = [], 0
        while size < 4000:
            word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 10)))
            words.append(word)
            size += len(word) + 1
        items.append(Item(str(i), "", " ".join(words)))
    return items


def never_seen_cpu(items: list[Item], rounds: int = 3) -> dict[str, float]:
    """CPU seconds of one classify call over ``items`` with nothing cached, median of
    ``rounds`` fresh models: with PyStemmer (shipped) and with snowballstemmer's pure
    Python stemmer swapped in (how it was), in the same run."""
    from snowballstemmer.english_stemmer import EnglishStemmer

    from model.tokens import Stems

    seen: dict[str, list[float]] = {"pystemmer": [], "pure_python_snowballstemmer": []}
    for _ in range(rounds):
        for name in seen:
            fresh = model.load()
            if name != "pystemmer":
                stems = Stems(EnglishStemmer().stemWord)
                fresh.pipeline.named_steps["tfidf"].tokenizer.stems = stems
                fresh._scorer.featurizer._stems = stems
            start = time.process_time()
            fresh.classify(items)
            seen[name].append(time.process_time() - start)
    return {name: round(statistics.median(v), 3) for name, v in seen.items()}


def batches_of(items: list[Item], size: int) -> list[list[Item]]:
    """``items`` cut into batches of ``size`` (as the service gets them)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def speedups(t: dict[str, int]) -> dict[str, float]:
    """wiretag's items/s over the baseline's. The baseline gives probabilities only;
    wiretag's classify also applies thresholds and builds results, and "with evidence"
    also ranks each label's terms."""
    pairs = {
        "rss_without_evidence": ("wiretag_rss_batch_no_evidence", "baseline_rss_batch"),
        "rss_with_evidence": ("wiretag_rss_batch", "baseline_rss_batch"),
        "articles_without_evidence": (
            "wiretag_article_batch_no_evidence",
            "baseline_article_batch",
        ),
        "articles_with_evidence": ("wiretag_article_batch", "baseline_article_batch"),
    }
    return {name: round(t[ours] / t[theirs], 2) for name, (ours, theirs) in pairs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = Path(args.shared) / "data"
    if not data.is_dir():
        print(f"needs the labelled corpus in {data}", file=sys.stderr)
        return 2
    files = [f for f in glob.glob(str(data / "*.jsonl")) if "seed_articles" not in f]
    files += glob.glob(str(ROOT / "training/data/*.jsonl"))
    corpus = corpus_mod.load(files)
    real = [e for e in corpus.examples if not e.written]
    written = [e for e in corpus.examples if e.written]
    shipped = model.load()

    base = baseline().fit([e.document for e in corpus.examples], label_matrix(corpus.examples))
    rss = [Item(e.id, e.title, e.text) for e in real if 60 < len(e.title) + len(e.text) < 500][
        :1000
    ]
    long_ = [e for e in real if len(e.text) >= 5000]
    articles = [Item(e.id, e.title, e.text[:5000]) for e in long_][:200]
    docs_rss = [model.compose(i.title, i.text) for i in rss]
    docs_art = [model.compose(i.title, i.text) for i in articles]
    one = rss[0]
    one_doc = docs_rss[0]
    hundreds = batches_of(rss, 100)
    article = articles[0]

    cases = {
        "wiretag_rss_batch": (lambda b: shipped.classify(b), rss),
        "wiretag_rss_batch_no_evidence": (lambda b: shipped.classify(b, False), rss),
        "baseline_rss_batch": (lambda b: base.predict_proba(b), docs_rss),
        "wiretag_article_batch": (lambda b: shipped.classify(b), articles),
        "wiretag_article_batch_no_evidence": (
            lambda b: shipped.classify(b, False),
            articles,
        ),
        "baseline_article_batch": (lambda b: base.predict_proba(b), docs_art),
        # the service's case: batches of 100 RSS items, each answer made JSON-ready
        "wiretag_rss_100s": (lambda b: [shipped.classify(h) for h in hundreds], rss),
        "wiretag_rss_100s_no_evidence": (
            lambda b: [shipped.classify(h, False) for h in hundreds],
            rss,
        ),
        "wiretag_rss_100s_to_dict": (
            lambda b: [[r.to_dict() for r in shipped.classify(h)] for h in hundreds],
            rss,
        ),
        "wiretag_rss_100s_to_dict_no_evidence": (
            lambda b: [[r.to_dict(False) for r in shipped.classify(h, False)] for h in hundreds],
            rss,
        ),
    }
    results = {
        "items": {
            "rss": len(rss),
            "rss_mean_chars": round(statistics.mean(map(len, docs_rss))),
            "articles": len(articles),
            "article_mean_chars": round(statistics.mean(map(len, docs_art))),
        },
        "throughput_items_per_s": rates(cases),
        "single_item_us": {
            "wiretag_with_evidence": latency_us(lambda: shipped.classify([one])),
            "wiretag_without_evidence": latency_us(lambda: shipped.classify([one], explain=False)),
            "wiretag_5kb_article_with_evidence": latency_us(lambda: shipped.classify([article])),
            "stock_pipeline_predict_proba": latency_us(
                lambda: shipped.pipeline.predict_proba([one_doc]), 500
            ),
            "baseline_predict_proba": latency_us(lambda: base.predict_proba([one_doc]), 500),
        },
        "macro_f1": {
            "wiretag_cv_from_card": shipped.card["cross_validation"]["overall"]["macro_f1"],
            "wiretag_fully_nested_cv_from_card": shipped.card["cross_validation"]["fully_nested"][
                "overall"
            ]["macro_f1"],
            "baseline_5fold_oof": round(baseline_macro_f1(real, written), 4),
        },
        "never_seen_words_1mib_cpu_seconds": never_seen_cpu(random_words_request()),
        "memory": load_in_subprocess(),
        "artifact_bytes": (model.SHIPPED_DIR / model.ARTIFACT_NAME).stat().st_size,
        "bench_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    results["speedup_vs_baseline"] = speedups(results["throughput_items_per_s"])
    # gunicorn's pre_fork (gunicorn.conf.py) and the poller freeze the heap after loading,
    # so the collector stops rescanning the libraries' and the model's objects; the same
    # cases again in that state, for both models alike
    gc.freeze()
    results["throughput_items_per_s_gc_frozen"] = rates(cases)
    results["speedup_vs_baseline_gc_frozen"] = speedups(results["throughput_items_per_s_gc_frozen"])
    print(json.dumps(results, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
