"""The model shipped in models/data/default-model: what load_model() gives on a fresh clone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from models import load_model, predict
from models.card import read_meta
from models.loading import BUNDLED_MODEL_DIR

SEEDS = read_documents(BUNDLED_GOLD_FILE)


def test_load_model_falls_back_to_the_shipped_spacy_model() -> None:
    model = load_model()
    assert model.path == BUNDLED_MODEL_DIR and model.engine == "spacy"
    assert model.schema.names == load_schema().names


def test_the_shipped_model_finds_the_seed_articles_officials() -> None:
    found = predict([doc.text for doc in SEEDS])
    gold = {(i, s.start, s.end) for i, doc in enumerate(SEEDS) for s in doc.spans if s.label == "OFFICIAL"}
    hits = {(i, e["start"], e["end"]) for i, ents in enumerate(found) for e in ents if e["label"] == "OFFICIAL"}
    assert len(gold) >= 20  # the five seed articles name 20 officials
    assert len(gold & hits) >= 0.95 * len(gold)
    assert len(hits - gold) <= 0.05 * len(hits)


def test_it_is_small_enough_for_the_repository() -> None:
    size = sum(path.stat().st_size for path in BUNDLED_MODEL_DIR.rglob("*") if path.is_file())
    assert size < 15 * 2**20


def test_its_card_gives_the_data_it_was_built_from_and_held_out_scores(shared: Path) -> None:
    meta = read_meta(BUNDLED_MODEL_DIR)
    assert set(meta.data) == {"train", "dev", "seeds"}
    for name, part in meta.data.items():
        current = hashlib.sha256((shared / "gold" / f"{name}.jsonl").read_bytes()).hexdigest()
        assert part.sha256 == current, f"gold/{name}.jsonl changed since the default model was built: " \
                                       f"run `make default-model`"
    dev = meta.metrics["dev"]
    assert dev["n_docs"] == meta.data["dev"].documents
    assert sum(row["support"] for row in dev["per_label"].values()) == meta.data["dev"].entities
    card = (BUNDLED_MODEL_DIR / "README.md").read_text(encoding="utf-8")
    assert "held out" in card and meta.data["train"].sha256[:12] in card


def test_a_trained_model_takes_precedence(seed_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VNER_MODEL", str(seed_model))
    assert load_model().path == seed_model
