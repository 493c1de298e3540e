"""The label schema, span checks, stable splits and span scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.document import Document, Span
from corpus.schema import SchemaError, load_schema
from corpus.scoring import score
from corpus.spans import validate_spans
from corpus.split import split_documents


def test_default_schema_follows_the_spec() -> None:
    schema = load_schema()
    assert schema.names == ("OFFICIAL", "POSITION", "UNIT", "LOCATION", "FIGURE", "TARGET", "DATE")
    assert schema.bio_tags()[:3] == ["O", "B-OFFICIAL", "I-OFFICIAL"] and len(schema.bio_tags()) == 15


def test_custom_schema_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"name": "mini", "labels": [{"name": "PER", "hotkey": "p"}, {"name": "ORG"}]}))
    monkeypatch.setenv("VNER_LABELS", str(path))
    assert load_schema().names == ("PER", "ORG")


@pytest.mark.parametrize(
    "content",
    ['{"labels": []}', '{"labels": [{"name": "A", "hotkey": "x"}, {"name": "B", "hotkey": "x"}]}', "{", '{"x": 1}'],
)
def test_bad_schema_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SchemaError):
        load_schema(path)


def test_validate_spans_reports_each_problem() -> None:
    text = "Chủ tịch UBND huyện Vũ Thị Hà, năm 2024"
    spans = [
        Span(0, 19, "POSITION"),
        Span(9, 19, "UNIT"),  # overlaps
        Span(20, 29, "PERSON"),  # unknown label
        Span(20, 30, "OFFICIAL"),  # trailing comma
        Span(31, 50, "DATE"),  # past the end
        Span(30, 39, "DATE"),  # leading space
        Span(31, 39, "DATE"),
    ]
    valid, problems = validate_spans(text, spans, load_schema())
    assert valid == [Span(0, 19, "POSITION"), Span(31, 39, "DATE")]
    reasons = sorted(p.reason.split(" ")[0] for p in problems)
    assert reasons == ["ends", "leading", "overlaps", "starts", "unknown"]


def test_split_is_stable_and_never_empty() -> None:
    docs = [Document(id=f"doc-{i}", text="x") for i in range(50)]
    train, dev = split_documents(docs, 0.2)
    again_train, again_dev = split_documents(list(reversed(docs)), 0.2)
    assert {d.id for d in dev} == {d.id for d in again_dev} and 0 < len(dev) < 25
    assert len(train) + len(dev) == 50
    tiny_train, tiny_dev = split_documents(docs[:2], 0.01)
    assert len(tiny_train) == 1 and len(tiny_dev) == 1


def test_scores_match_hand_computed_values() -> None:
    gold = [Span(0, 5, "DATE"), Span(10, 20, "UNIT"), Span(30, 35, "FIGURE"), Span(40, 45, "OFFICIAL")]
    pred = [
        Span(0, 5, "DATE"),  # exact
        Span(10, 18, "UNIT"),  # wrong boundary
        Span(30, 35, "TARGET"),  # wrong label
        Span(50, 55, "LOCATION"),  # spurious
    ]  # OFFICIAL 40-45 missed
    scores = score(load_schema().names, [(gold, pred)])
    assert scores.micro() == pytest.approx({"precision": 0.25, "recall": 0.25, "f1": 0.25})
    assert scores.partial() == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert scores.errors["wrong_boundary"]["UNIT"] == 1
    assert scores.errors["wrong_label"]["FIGURE"] == 1
    assert scores.errors["spurious"]["LOCATION"] == 1
    assert scores.errors["missed"]["OFFICIAL"] == 1
    per_label = scores.per_label()
    assert per_label["DATE"]["f1"] == 1.0 and per_label["UNIT"]["recall"] == 0.0
    # macro averages over labels with gold or predictions: DATE 1, UNIT 0, FIGURE 0, OFFICIAL 0, TARGET 0, LOCATION 0.
    assert scores.macro()["f1"] == pytest.approx(1 / 6)
    out = scores.to_dict()
    assert out["n_gold"] == 4 and out["n_pred"] == 4 and out["n_docs"] == 1
