"""Relations in the corpus layer: gold I/O, the schema's relation types, validation and strict scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.document import Document, Relation, Span
from corpus.gold import GoldError, read_gold
from corpus.jsonl import FormatError, read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.relation_scoring import score_relations
from corpus.relations import relation_problems, validate_relations
from corpus.schema import LabelSchema, SchemaError, load_schema

TEXT = "Phó Chủ tịch UBND huyện Vũ Thị Hà cho biết năm 2024 huyện trồng 6.325 ha rừng."


def _at(surface: str, label: str) -> Span:
    start = TEXT.index(surface)
    return Span(start, start + len(surface), label)


POST, NAME, YEAR, AREA = (
    _at("Phó Chủ tịch UBND huyện", "POSITION"), _at("Vũ Thị Hà", "OFFICIAL"), _at("năm 2024", "DATE"),
    _at("6.325 ha", "FIGURE"),
)


def _link(head: Span, tail: Span, kind: str, score: float | None = None) -> Relation:
    return Relation((head.start, head.end), (tail.start, tail.end), kind, score)


def test_default_schema_has_the_spec_relation_types() -> None:
    schema = load_schema()
    assert schema.relation_names == ("HOLDS", "PERIOD")
    holds, period = schema.relation("HOLDS"), schema.relation("PERIOD")
    assert holds.allows("OFFICIAL", "POSITION") and not holds.allows("POSITION", "OFFICIAL")
    assert period.allows("FIGURE", "DATE") and period.allows("TARGET", "DATE") and not period.allows("DATE", "DATE")
    assert schema.relation("NOPE") is None
    assert LabelSchema.from_dict(schema.to_dict()) == schema


@pytest.mark.parametrize(
    "relations",
    [
        [{"name": "HOLDS", "head": ["PERSON"], "tail": ["POSITION"]}],  # unknown label
        [{"name": "HOLDS", "head": ["OFFICIAL"], "tail": ["POSITION"]}] * 2,  # duplicate name
        [{"name": "holds", "head": ["OFFICIAL"], "tail": ["POSITION"]}],  # not upper case
        [{"name": "HOLDS", "head": [], "tail": ["POSITION"]}],  # no head label
        [{"name": "HOLDS", "tail": ["POSITION"]}],  # no head key
    ],
)
def test_bad_relation_types_are_refused(tmp_path: Path, relations: list) -> None:
    data = load_schema().to_dict() | {"relations": relations}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match="relation"):
        load_schema(path)


def test_gold_relations_round_trip_and_absent_key_stays_absent(tmp_path: Path) -> None:
    with_rel = Document("a", TEXT, spans=[POST, NAME, YEAR, AREA],
                        relations=[_link(NAME, POST, "HOLDS"), _link(AREA, YEAR, "PERIOD", 0.75)])
    none_annotated = Document("b", TEXT, spans=[POST], relations=[])
    without = Document("c", TEXT, spans=[POST])
    path = tmp_path / "gold.jsonl"
    write_documents(path, [with_rel, none_annotated, without])
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["relations"] == [
        {"head": [24, 33], "tail": [0, 23], "type": "HOLDS"},
        {"head": [64, 72], "tail": [43, 51], "type": "PERIOD", "score": 0.75},
    ]
    assert lines[1]["relations"] == [] and "relations" not in lines[2]
    back = read_documents(path)
    assert back[0].relations == with_rel.relations and back[0].relations[1].score == 0.75
    assert back[1].relations == [] and back[2].relations is None
    assert "relations" not in with_rel.to_dict(with_spans=False)


def test_shared_gold_relations_read_back_unchanged(tmp_path: Path) -> None:
    raw = [json.loads(line) for line in BUNDLED_GOLD_FILE.read_text(encoding="utf-8").splitlines()]
    assert sum(len(d["relations"]) for d in raw) == 43
    path = tmp_path / "copy.jsonl"
    write_documents(path, read_documents(BUNDLED_GOLD_FILE))
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == raw


@pytest.mark.parametrize("bad", ['{"head": [1], "tail": [0, 2], "type": "HOLDS"}', '{"tail": [0, 2], "type": "HOLDS"}'])
def test_malformed_relation_names_the_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "x"}) + "\n" + f'{{"id": "b", "text": "y", "relations": [{bad}]}}\n')
    with pytest.raises(FormatError, match=":2:"):
        read_documents(path)


def test_bundled_seed_relations_are_valid() -> None:
    schema = load_schema()
    for doc in read_documents(BUNDLED_GOLD_FILE):
        valid, problems = validate_relations(doc.spans, doc.relations, schema)
        assert problems == [] and len(valid) == len(doc.relations)


def test_validate_relations_reports_each_problem() -> None:
    spans = [POST, NAME, YEAR, AREA]
    relations = [
        _link(NAME, POST, "HOLDS"),
        _link(NAME, POST, "HOLDS", 0.9),  # duplicate (a score does not make it another link)
        _link(POST, NAME, "HOLDS"),  # reversed: POSITION -> OFFICIAL
        Relation((AREA.start, AREA.end), (YEAR.start, YEAR.end + 1), "PERIOD"),  # tail is not a span
        Relation((1, 5), (YEAR.start, YEAR.end), "PERIOD"),  # head is not a span
        _link(AREA, YEAR, "WHEN"),  # unknown type
        _link(AREA, AREA, "PERIOD"),  # head is tail
        _link(AREA, YEAR, "PERIOD"),
    ]
    valid, problems = validate_relations(spans, relations, load_schema())
    assert valid == [_link(NAME, POST, "HOLDS"), _link(AREA, YEAR, "PERIOD")]
    reasons = sorted(p.reason for p in problems)
    assert len(problems) == 6
    assert reasons[0] == "duplicate of an earlier relation"
    assert reasons[1] == "head and tail are the same span"
    assert reasons[2] == "head not a span of the document"
    assert reasons[3] == "links POSITION -> OFFICIAL; HOLDS links OFFICIAL -> POSITION"
    assert reasons[4] == "tail not a span of the document"
    assert reasons[5].startswith("unknown relation type (known: HOLDS, PERIOD)")
    assert str(problems[0]) == "HOLDS [0:23] -> [24:33]: links POSITION -> OFFICIAL; HOLDS links OFFICIAL -> POSITION"


def test_relation_scores_match_hand_computed_values() -> None:
    h1, h2, h3 = Relation((1, 2), (3, 4), "HOLDS"), Relation((1, 2), (5, 6), "HOLDS"), Relation((7, 8), (3, 4), "HOLDS")
    p1, p2 = Relation((10, 12), (20, 22), "PERIOD"), Relation((30, 32), (20, 22), "PERIOD")
    gold_doc1 = [h1, h2, p1]
    pred_doc1 = [h1, Relation((1, 2), (5, 6), "HOLDS", 0.4), h3, Relation((10, 12), (20, 23), "PERIOD")]
    gold_doc2 = [p2]
    pred_doc2 = [p2, Relation((30, 32), (20, 22), "HOLDS")]  # right ends, wrong type
    scores = score_relations(["HOLDS", "PERIOD"], [(gold_doc1, pred_doc1), (gold_doc2, pred_doc2)])
    table = scores.to_dict()
    # HOLDS: gold 2, predicted 4 (h1, h2, h3, wrong-type), correct 2 -> P 0.5, R 1.0, F1 2/3
    assert table["HOLDS"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 2})
    # PERIOD: gold 2, predicted 2 (one tail off by one), correct 1 -> P = R = F1 = 0.5
    assert table["PERIOD"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    # micro: 3 correct of 6 predicted and 4 gold -> P 0.5, R 0.75, F1 0.6
    assert table["micro"] == pytest.approx({"precision": 0.5, "recall": 0.75, "f1": 0.6, "support": 4})
    assert [(c.doc_index, c.kind, c.relation.type) for c in scores.cases] == [
        (0, "missed", "PERIOD"), (0, "spurious", "HOLDS"), (0, "spurious", "PERIOD"), (1, "spurious", "HOLDS"),
    ]
    assert scores.errors("spurious") == {"HOLDS": 2, "PERIOD": 1}


def test_relation_problems_is_a_gold_check() -> None:
    doc = Document("a", TEXT, spans=[POST, NAME, YEAR, AREA],
                   relations=[_link(NAME, POST, "HOLDS"), _link(YEAR, AREA, "PERIOD")])
    assert relation_problems(doc, load_schema()) == [
        "relation PERIOD [43:51] -> [64:72]: links DATE -> FIGURE; PERIOD links FIGURE/TARGET -> DATE"
    ]
    old_model = LabelSchema("old", load_schema().labels)  # no relation types: checked against the default ones
    assert relation_problems(doc, old_model) == relation_problems(doc, load_schema())
    assert relation_problems(Document("b", TEXT, spans=[POST]), load_schema()) == []


def test_gold_files_are_checked_for_relations(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    good = Document("a", TEXT, spans=[POST, NAME, YEAR, AREA], relations=[_link(NAME, POST, "HOLDS")])
    bad = Document("b", TEXT, spans=[POST, NAME], relations=[_link(NAME, YEAR, "HOLDS")])
    write_documents(path, [good, bad])
    with pytest.raises(GoldError) as caught:
        read_gold(path)
    reason = "relation HOLDS [24:33] -> [43:51]: tail not a span of the document"
    assert str(caught.value) == f"{path}:2: document b: {reason}"
    write_documents(path, [good])
    assert read_gold(path)[0].relations == good.relations
