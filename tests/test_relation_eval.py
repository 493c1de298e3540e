"""Relation evaluation: end to end and with gold entities, the table, the error report, vner evaluate."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

from corpus.document import Span
from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.relation_scoring import score_relations
from models import load_model
from models.relations import rule_relations
from training.evaluate import evaluate, evaluate_relations, relations_table
from training.report import error_report_html

SEEDS = read_documents(BUNDLED_GOLD_FILE)


def test_end_to_end_and_gold_entity_scores() -> None:
    model = load_model("rules")
    scores, predicted = evaluate(model, SEEDS)
    results = evaluate_relations(model.schema, SEEDS, predicted)
    assert results is not None and len(results.docs) == 5
    table = results.to_dict()
    assert set(table) == {"HOLDS", "PERIOD", "micro", "gold_entities"}
    assert table["gold_entities"]["micro"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 43}
    by_hand = score_relations(
        ["HOLDS", "PERIOD"],
        [(d.relations, rule_relations(d.text, p, model.schema)) for d, p in zip(SEEDS, predicted, strict=True)],
    )
    assert {k: v for k, v in table.items() if k != "gold_entities"} == by_hand.to_dict()
    assert table["micro"]["f1"] < 1.0  # the rules engine misses entities (no TARGET at all)


def test_only_documents_with_relation_annotation_count() -> None:
    model = load_model("rules")
    docs = [replace(SEEDS[0], relations=None), SEEDS[1]]
    results = evaluate_relations(model.schema, docs, [d.spans for d in docs])
    assert [d.id for d in results.docs] == ["seed-001"] and results.gold_entities.micro()["support"] == 18
    assert evaluate_relations(model.schema, [docs[0]], [docs[0].spans]) is None


def test_report_shows_missed_and_spurious_links_in_context() -> None:
    model = load_model("rules")
    doc = SEEDS[1]
    vu = next(s for s in doc.spans if doc.text[s.start:s.end] == "Vũ Thị Hà")
    predicted = [[s for s in doc.spans if s != vu] + [Span(vu.start, vu.end - 3, "OFFICIAL")]]
    scores, _ = evaluate(model, [doc])
    results = evaluate_relations(model.schema, [doc], predicted)
    assert [(c.kind, doc.text[c.relation.head[0]:c.relation.head[1]]) for c in results.end_to_end.cases] == [
        ("missed", "Vũ Thị Hà"), ("spurious", "Vũ Thị"),
    ]
    page = error_report_html([doc], scores, "seed", results)
    assert "<h2>Relations</h2>" in page
    assert "<td>missed (predicted entities)</td>" in page and "<td>spurious (predicted entities)</td>" in page
    assert '<span class="head">Vũ Thị</span>' in page and '<span class="tail">Phó Chủ tịch UBND huyện</span>' in page
    rendered = relations_table(results)
    assert [c.header for c in rendered.columns][:5] == ["relation", "P", "R", "F1", "gold-entity F1"]


def test_vner_evaluate_json_and_report(vner: str, seed_model: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [vner, "evaluate", "--model", str(seed_model), "--data", str(BUNDLED_GOLD_FILE), "--json",
         "--report", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    relations = answer["relations"]
    assert set(relations) == {"HOLDS", "PERIOD", "micro", "gold_entities"}
    assert set(relations["HOLDS"]) == {"precision", "recall", "f1", "support"} and relations["HOLDS"]["support"] == 27
    assert relations["gold_entities"]["micro"]["f1"] == 1.0
    assert "<h2>Relations</h2>" in (tmp_path / "report" / "errors.html").read_text(encoding="utf-8")
    table = subprocess.run([vner, "evaluate", "--model", str(seed_model), "--data", str(BUNDLED_GOLD_FILE)],
                           capture_output=True, text=True, timeout=300, env={"COLUMNS": "160", "PATH": ""})
    assert "relations:" in table.stdout and "gold-entity F1" in table.stdout


def test_vner_evaluate_the_rules_engine(vner: str) -> None:
    run = subprocess.run([vner, "evaluate", "--model", "rules", "--data", str(BUNDLED_GOLD_FILE), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    scores, _ = evaluate(load_model("rules"), SEEDS)
    assert scores.micro()["f1"] > 0 and json.loads(run.stdout)["micro"] == scores.micro()
