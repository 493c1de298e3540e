"""Inference benchmark: words/s over a corpus, latency for one article, peak memory.

Each model runs in a fresh process so that peak RSS belongs to that model alone:
``python -m models.bench MODEL_DIR --corpus FILE.jsonl`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from models.loading import load_model
from models.predict import predict

ARTICLE_WORDS = 800


def peak_rss_mb() -> int:
    """The peak resident memory of this process so far, in MB (Linux reports ru_maxrss in kB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def article_of(texts: list[str], words: int = ARTICLE_WORDS) -> str:
    """The first ``words`` words of the texts joined as paragraphs (line breaks kept)."""
    joined = "\n\n".join(texts)
    ends = [match.end() for match in re.finditer(r"\S+", joined)]
    return joined[: ends[min(words, len(ends)) - 1]]


def bench(model_dir: Path, corpus: Path, repeats: int = 3, latency_runs: int = 20) -> dict[str, Any]:
    texts = [d.text for d in read_documents(corpus)]
    words = sum(len(t.split()) for t in texts)
    started = time.perf_counter()
    model = load_model(model_dir)
    load_seconds = time.perf_counter() - started
    predict(texts[:1], model)  # warm-up
    throughput = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(texts, model)
        throughput.append(words / (time.perf_counter() - started))
    article = article_of(texts)
    latencies = []
    for _ in range(latency_runs):
        started = time.perf_counter()
        predict(article, model)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    return {
        "model": str(model_dir),
        "engine": model.engine,
        "runtime": model.runtime,
        "quantized": bool(model.meta.quantized),
        "corpus_words": words,
        "load_seconds": round(load_seconds, 2),
        "words_per_second": round(statistics.median(throughput)),
        "article_words": len(article.split()),
        "latency_p50_s": round(latencies[len(latencies) // 2], 4),
        "latency_p95_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 4),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("--corpus", type=Path, default=BUNDLED_GOLD_FILE)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(bench(args.model, args.corpus, args.repeats)))


if __name__ == "__main__":
    main()
