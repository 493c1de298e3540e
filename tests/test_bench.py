"""The inference benchmark prints one JSON object of figures for a model."""

from __future__ import annotations

import json
import os
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


def test_training_bench_reports_time_memory_and_scores(tmp_path: Path) -> None:
    from corpus.jsonl import read_documents, write_documents

    seeds = read_documents(BUNDLED_GOLD_FILE)
    write_documents(tmp_path / "train.jsonl", seeds[:2])
    write_documents(tmp_path / "dev.jsonl", seeds[4:])
    run = subprocess.run(
        [sys.executable, "-m", "training.bench", "--engine", "spacy", "--train", str(tmp_path / "train.jsonl"),
         "--dev", str(tmp_path / "dev.jsonl"), "--out", str(tmp_path / "model"), "--set", "max_epochs=1",
         "--set", "rare_repeats=1"],
        capture_output=True, text=True, check=True, env={**os.environ, "VNER_HOME": str(tmp_path / "home")},
    )
    figures = json.loads(run.stdout)
    assert figures["engine"] == "spacy" and figures["train_documents"] == 2
    assert figures["options"]["max_epochs"] == 1 and figures["options"]["rare_repeats"] == 1  # --set arrived
    assert figures["train_words"] == sum(len(d.text.split()) for d in seeds[:2])
    assert figures["train_seconds"] > 0 and figures["train_peak_rss_mb"] > 50
    assert figures["eval_words"] == len(seeds[4].text.split()) and figures["eval_words_per_second"] > 0
    assert 0 <= figures["dev_micro"]["f1"] <= 1 and set(figures["dev_f1_per_label"]) >= {"OFFICIAL", "TARGET"}
    assert (tmp_path / "model" / "vner-model.json").is_file()
