"""Uncertainty, selection strategies and the active-learning benchmark (no server; the session's seed model)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation import al_bench
from annotation.selection import rank, tfidf_vectors
from annotation.uncertainty import MEASURES, UncertaintyError, decision_margins, spacy_decisions, uncertainty
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.text import normalize, paragraph_bounds
from models import load_model

SEEDS = read_documents(BUNDLED_GOLD_FILE)


def test_the_replayed_greedy_parse_is_spacys_own(seed_model: Path) -> None:
    model = load_model(seed_model)
    texts = [normalize(doc.text)[0] for doc in SEEDS] + ["", "Huyện ủy", "Ngày 3-4, Huyện ủy Hậu Lộc họp."]
    margins, spans = spacy_decisions(model, texts)
    assert spans == model.predict_normalized(texts)
    assert any(spans)
    for text, steps in zip(texts, margins, strict=True):
        tokens = sum(len(model.nlp.make_doc(text[a:b])) for a, b in paragraph_bounds(text))
        assert len(steps) == tokens  # BILUO: one action per token
        assert ((steps >= 0) & (steps <= 1)).all()
    assert 0 < float(np.mean(np.concatenate(margins))) < 1  # some decisions are close calls, most are not


def test_measures_and_engines_without_probabilities(seed_model: Path) -> None:
    model = load_model(seed_model)
    short, long = SEEDS[0].text[:200], SEEDS[0].text
    [m_short, m_long] = decision_margins(model, [short, long])
    assert uncertainty(model, [short, long], "margin") == [pytest.approx(float(np.sum(1 - m))) for m in (m_short,
                                                                                                        m_long)]
    assert uncertainty(model, [long], "margin-mean") == [pytest.approx(float(np.mean(1 - m_long)))]
    assert set(MEASURES) == {"margin", "margin-mean"}
    with pytest.raises(ValueError, match="unknown uncertainty measure"):
        uncertainty(model, [short], "entropy")
    with pytest.raises(UncertaintyError, match="no probabilities"):
        uncertainty(load_model("rules"), [short])


def test_strategies_rank_as_documented(seed_model: Path) -> None:
    model = load_model(seed_model)
    texts = [doc.text for doc in SEEDS]
    scores = uncertainty(model, texts)
    by_uncertainty = rank("uncertainty", texts, model=model)
    assert by_uncertainty.order == sorted(range(len(texts)), key=lambda i: -scores[i])
    assert by_uncertainty.usefulness == sorted(scores, reverse=True)

    first, again = rank("random", texts, seed=3), rank("random", texts, seed=3)
    assert first == again and sorted(first.order) == list(range(len(texts)))
    assert rank("random", texts, k=2, seed=3).order == first.order[:2]

    # Two copies of the most uncertain text: uncertainty takes both, diverse only one of them.
    top = by_uncertainty.order[0]
    twins = texts + [texts[top]]
    assert set(rank("uncertainty", twins, model=model, k=2).order) == {top, len(texts)}
    diverse = rank("diverse", twins, model=model, k=2)
    assert len({twins[i] for i in diverse.order}) == 2 and diverse.order[0] in (top, len(texts))
    full = rank("diverse", twins, model=model, batch=2)
    assert sorted(full.order) == list(range(len(twins)))
    assert all(a >= b for a, b in pairwise(full.usefulness))
    # A labeled copy pushes its twin down.
    assert top not in rank("diverse", texts, model=model, k=1, labeled_texts=[texts[top]]).order


def test_tfidf_vectors() -> None:
    vectors = tfidf_vectors(["Huyện ủy Hậu Lộc", "huyện ủy hậu lộc", "Ngày 3-4", ""])
    assert vectors[0] @ vectors[1] == pytest.approx(1.0)  # case does not matter
    assert vectors[0] @ vectors[2] == pytest.approx(0.0)
    assert not vectors[3].any()


def test_al_bench_small_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold, dev = tmp_path / "gold.jsonl", tmp_path / "dev.jsonl"
    write_documents(gold, SEEDS[:4])
    write_documents(dev, SEEDS[4:])
    out = tmp_path / "bench"
    code = al_bench.main(["--gold", str(gold), "--dev", str(dev), "--out", str(out), "--seeds", "0",
                          "--strategies", "random", "uncertainty", "--validation", "1", "--start", "2", "--k", "1",
                          "--rounds", "1", "--doc-epochs", "2", "--min-epochs", "1", "--max-epochs", "1"])
    assert code == 0
    result = json.loads((out / "al_bench.json").read_text(encoding="utf-8"))
    assert result["trainings"] == 3  # the start model once, then one round per strategy
    points = {(p["strategy"], p["docs"]) for p in result["points"]}
    assert points == {("random", 2), ("random", 3), ("uncertainty", 2), ("uncertainty", 3)}
    start = [p for p in result["points"] if p["round"] == 0]  # one start model, shared by the strategies
    assert len(start) == 2 and start[0]["train_seconds"] == start[1]["train_seconds"]
    assert start[0]["f1"] == start[1]["f1"] and start[0]["per_label_f1"] == start[1]["per_label_f1"]
    first = {p["strategy"]: p for p in result["points"] if p["round"] == 1}
    assert result["summary"]["gain_over_random"]["uncertainty"]["3"] == pytest.approx(
        first["uncertainty"]["f1"] - first["random"]["f1"], abs=1e-4)
    assert set(result["summary"]["gain_over_random"]) == {"uncertainty"}
    assert (out / "al_bench.png").stat().st_size > 1000
    assert not (out / "work").exists()
    assert "gain over random" in capsys.readouterr().out

    write_documents(dev, SEEDS[3:])  # shares a document with the oracle: refused
    assert al_bench.main(["--gold", str(gold), "--dev", str(dev), "--out", str(out)]) == 2
    assert "also in" in capsys.readouterr().err


def test_transformers_margins_are_one_per_word(tmp_path: Path) -> None:
    from tiny_models import build_backbone
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from corpus.schema import load_schema
    from corpus.text import split_words
    from models.hf_engine import HFModel

    schema = load_schema()
    tags = ["O", *[f"{p}-{name}" for name in schema.names for p in ("B", "I")]]
    backbone = build_backbone(tmp_path / "tiny")
    network = AutoModelForTokenClassification.from_pretrained(
        backbone, num_labels=len(tags), id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)})
    model = HFModel.from_components(network, AutoTokenizer.from_pretrained(backbone), schema, path=tmp_path,
                                    max_length=32, stride=8)  # several windows per seed
    texts = [SEEDS[0].text, "Huyện ủy Hậu Lộc", ""]
    margins = decision_margins(model, texts)
    for text, found in zip(texts, margins, strict=True):
        assert len(found) == len(split_words(normalize(text)[0]))
        assert ((found >= 0) & (found <= 1)).all()
    assert uncertainty(model, texts, "margin")[2] == 0.0
    assert [m.tolist() for m in decision_margins(model, texts[:2])] == [m.tolist() for m in margins[:2]]


WORDS = ["Huyện", "ủy", "Hậu", "Lộc", "Ngày", "3-4", "UBND", "huyện", "đồng", "chí", "Vũ", "Thị", "Hà", "150", "tỷ",
         "đồng", ",", ".", "%", "xã", "Kim", "Song", "Trường", "năm", "2024", "Bí", "thư", "“", "”"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=25), max_size=5),
       st.sampled_from([" ", "  ", " \t"]), st.sampled_from(["\n", "\n\n", " \n "]))
def test_replayed_parse_matches_the_pipeline_on_any_text(seed_model: Path, lines: list[list[str]], space: str,
                                                         newline: str) -> None:
    model = load_model(seed_model)
    text = normalize(newline.join(space.join(words) for words in lines))[0]
    margins, spans = spacy_decisions(model, [text])
    assert spans == model.predict_normalized([text])
    assert len(margins[0]) == sum(len(model.nlp.make_doc(text[a:b])) for a, b in paragraph_bounds(text))
    assert all(0 <= span.start < span.end <= len(text) for span in spans[0])
