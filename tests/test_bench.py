"""The inference benchmark prints one JSON object of figures for a model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpus.document import Span
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from corpus.scoring import score
from models import predict
from models.card import read_meta

# three articles make two or three batches of the versioned config's 400-1500 words: too few steps to learn
SMALL_BATCHES = {"training.batcher.size.start": 100, "training.batcher.size.stop": 300}


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
    write_documents(tmp_path / "train.jsonl", seeds[:3])
    write_documents(tmp_path / "dev.jsonl", seeds[4:])
    run = subprocess.run(
        [sys.executable, "-m", "training.bench", "--engine", "spacy", "--train", str(tmp_path / "train.jsonl"),
         "--dev", str(tmp_path / "dev.jsonl"), "--out", str(tmp_path / "model"), "--set", "max_epochs=6",
         "--set", "rare_repeats=1", "--set", f"overrides={json.dumps(SMALL_BATCHES)}"],
        capture_output=True, text=True, check=True, env={**os.environ, "VNER_HOME": str(tmp_path / "home")},
    )
    figures = json.loads(run.stdout)
    assert figures["engine"] == "spacy" and figures["train_documents"] == 3
    assert figures["options"]["max_epochs"] == 6 and figures["options"]["rare_repeats"] == 1  # --set arrived
    assert figures["train_words"] == sum(len(d.text.split()) for d in seeds[:3])
    assert figures["train_seconds"] > 0 and figures["train_peak_rss_mb"] > 50
    assert figures["eval_words"] == len(seeds[4].text.split()) and figures["eval_words_per_second"] > 0
    # the scores reported are those of the model written, scored here independently of the benchmark
    model = tmp_path / "model"
    predicted = predict([d.text for d in seeds[4:]], model)
    pred = [[Span(e["start"], e["end"], e["label"]) for e in entities] for entities in predicted]
    scores = score(load_schema().names, zip((d.spans for d in seeds[4:]), pred, strict=True))
    assert sum(map(len, pred)) > 0  # the model found something, so the comparison below means something
    assert figures["dev_micro"] == pytest.approx(scores.micro()) and figures["dev_micro"]["f1"] > 0
    assert figures["dev_f1_per_label"] == pytest.approx({k: v["f1"] for k, v in scores.per_label().items()})
    assert read_meta(model).metrics["dev"]["micro"] == pytest.approx(scores.micro())


def test_seeds_bench_reports_mean_and_spread_over_seeds(tmp_path: Path) -> None:
    from corpus.jsonl import read_documents, write_documents

    seeds = read_documents(BUNDLED_GOLD_FILE)
    write_documents(tmp_path / "train.jsonl", seeds[:2])
    write_documents(tmp_path / "dev.jsonl", seeds[4:])
    run = subprocess.run(
        [sys.executable, "-m", "training.seeds_bench", "--engine", "spacy", "--train", str(tmp_path / "train.jsonl"),
         "--dev", str(tmp_path / "dev.jsonl"), "--out", str(tmp_path / "runs"), "--seeds", "3", "4",
         "--set", "max_epochs=2"],
        capture_output=True, text=True, check=True, env={**os.environ, "VNER_HOME": str(tmp_path / "home")},
    )
    report = json.loads((tmp_path / "runs" / "summary.json").read_text())
    runs, summary = report["runs"], report["summary"]
    assert [r["options"]["seed"] for r in runs] == [3, 4] and summary["seeds"] == [3, 4]
    f1s = [r["dev_micro"]["f1"] for r in runs]
    assert summary["micro_f1"]["mean"] == pytest.approx(sum(f1s) / 2)
    assert summary["micro_f1"]["min"] == min(f1s) and summary["micro_f1"]["max"] == max(f1s)
    assert summary["micro_f1"]["std"] == pytest.approx(abs(f1s[0] - f1s[1]) / 2**0.5)
    assert f"{summary['micro_f1']['mean']:.3f} ± {summary['micro_f1']['std']:.3f}" in run.stdout
    assert (tmp_path / "runs" / "seed-3" / "vner-model.json").is_file()
    assert not (tmp_path / "home" / "models" / "LATEST").exists()  # a benchmark never changes the default model
