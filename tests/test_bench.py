"""The inference benchmark prints one JSON object of figures for a model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from corpus.paths import BUNDLED_GOLD_FILE


def test_bench_reports_throughput_latency_and_memory(seed_model: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "models.bench", str(seed_model), "--corpus", str(BUNDLED_GOLD_FILE), "--repeats", "1"],
        capture_output=True, text=True, check=True,
    )
    figures = json.loads(run.stdout)
    assert figures["engine"] == "spacy" and figures["corpus_words"] > 5000
    assert figures["words_per_second"] > 0 and 700 <= figures["article_words"] <= 800
    assert 0 < figures["latency_p50_s"] <= figures["latency_p95_s"]
    assert figures["peak_rss_mb"] > 50
