"""Gold files are read and checked in one place: every problem named by file, line, offsets and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import gold
from corpus.document import Document, Span
from corpus.gold import GoldError, read_gold, validate_gold
from corpus.jsonl import FormatError
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema

TEXT = "Chủ tịch UBND huyện Hậu Lộc Vũ Thị Hà dự họp."
GOOD = {
    "id": "g1",
    "text": TEXT,
    "spans": [{"start": 0, "end": 27, "label": "POSITION"}, {"start": 28, "end": 37, "label": "OFFICIAL"}],
}


def gold_file(tmp_path: Path, *records: object, name: str = "gold.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


def with_spans(*spans: dict, doc_id: str = "g2") -> dict:
    return {"id": doc_id, "text": TEXT, "spans": list(spans)}


def test_valid_gold_is_read() -> None:
    docs = read_gold(BUNDLED_GOLD_FILE)
    assert len(docs) == 5 and sum(len(d.spans) for d in docs) == 295


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (with_spans({"start": 0, "end": 8, "label": "PERSON"}), ["[0:8] PERSON", "unknown label", "OFFICIAL"]),
        (
            with_spans({"start": 0, "end": 27, "label": "POSITION"}, {"start": 20, "end": 27, "label": "LOCATION"}),
            ["[20:27] LOCATION", "overlaps [0:27] POSITION"],
        ),
        (
            with_spans({"start": 28, "end": 999, "label": "OFFICIAL"}),
            ["[28:999] OFFICIAL", "past the end", "length 45"],
        ),
        (with_spans({"start": -4, "end": 8, "label": "POSITION"}), ["[-4:8] POSITION", "negative"]),
        (with_spans({"start": 8, "end": 8, "label": "POSITION"}), ["[8:8] POSITION", "empty"]),
        (with_spans({"start": 0, "end": 9, "label": "POSITION"}), ["[0:9] POSITION", "whitespace"]),
        (with_spans({"start": 41, "end": 45, "label": "OFFICIAL"}), ["[41:45] OFFICIAL", "punctuation", "'họp.'"]),
        (with_spans({"start": 1.7, "end": 8, "label": "POSITION"}), ["start must be a whole number, not 1.7"]),
        (with_spans({"start": 0, "end": 8}), ["no 'label' field"]),
        ({"id": "g1", "text": "x"}, ["id 'g1' repeats the document of line 1"]),
        ({"id": "g2", "text": "x", "date": {"y": 2024}}, ["'date' must be YYYY, YYYY-MM or YYYY-MM-DD"]),
        ({"id": "g2", "text": "x", "title": ["a"]}, ["'title' must be a string, not list"]),
        ({"id": "g2", "text": "x", "spans": "none"}, ["'spans' must be a list"]),
        ("{not json", ["not JSON"]),
        ("[1, 2]", ["a JSON list, not an object"]),
    ],
)
def test_each_problem_names_file_line_offsets_and_reason(tmp_path: Path, bad: object, words: list[str]) -> None:
    path = gold_file(tmp_path, GOOD, bad)
    with pytest.raises(GoldError) as caught:
        read_gold(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ") and "\n" not in message
    for word in words:
        assert word in message
    assert isinstance(caught.value, FormatError)


def test_a_letter_cut_from_its_combining_mark_is_misaligned(tmp_path: Path) -> None:
    text = "Ông Vũ Thi\u0323 Hà"  # "ị" written as i + combining dot below
    path = gold_file(tmp_path, {"id": "c", "text": text, "spans": [{"start": 4, "end": 10, "label": "OFFICIAL"}]})
    with pytest.raises(GoldError, match=r"gold.jsonl:1: .*\[4:10\] OFFICIAL: cuts a letter from its combining mark"):
        read_gold(path)


def test_every_problem_is_listed_and_the_message_counts_them(tmp_path: Path) -> None:
    path = gold_file(
        tmp_path,
        GOOD,
        "oops",
        "",
        with_spans({"start": 0, "end": 8, "label": "X"}, doc_id="g3"),
        with_spans({"start": 0, "end": 8, "label": "Y"}, {"start": 9, "end": 13, "label": "Z"}),
    )
    with pytest.raises(GoldError) as caught:
        read_gold(path)
    assert [(p.line, p.reason.split(":")[0]) for p in caught.value.problems] == [
        (2, "not JSON (Expecting value"),
        (4, "document g3"),
        (5, "document g2"),
        (5, "document g2"),
    ]
    assert str(caught.value).endswith("(and 3 more problems)")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["no documents (empty file)"]),
        (b"\n  \n", ["no documents (empty file)"]),
        ((json.dumps(GOOD, ensure_ascii=False) + "\n").encode("utf-16"), ["gold.jsonl:1", "not UTF-8", "UTF-16"]),
        (b'{"id": "a", "text": "caf\xe9"}\n', ["gold.jsonl:1", "not UTF-8"]),
    ],
)
def test_empty_and_non_utf8_files_are_refused(tmp_path: Path, content: bytes, words: list[str]) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_bytes(content)
    with pytest.raises(GoldError) as caught:
        read_gold(path)
    for word in words:
        assert word in str(caught.value)


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert [d.id for d in read_gold(path)] == ["g1"]


def test_lone_surrogates_are_replaced_with_a_warning(tmp_path: Path) -> None:
    record = dict(GOOD, title="bad \ud800 half")
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="ascii")  # json.dumps escapes it: "\ud800"
    with pytest.warns(UserWarning, match=r"gold.jsonl:1: 1 lone surrogate .* replaced by U\+FFFD"):
        docs = read_gold(path)
    assert docs[0].title == "bad \ufffd half" and docs[0].spans == [Span(0, 27, "POSITION"), Span(28, 37, "OFFICIAL")]


def test_labels_are_checked_against_the_schema_given(tmp_path: Path) -> None:
    schema = load_schema()
    narrow = type(schema).from_dict({"labels": [{"name": "POSITION"}]})
    path = gold_file(tmp_path, GOOD)
    assert read_gold(path, schema)
    with pytest.raises(GoldError, match=r"\[28:37\] OFFICIAL: unknown label \(known: POSITION\)"):
        read_gold(path, narrow)


def test_documents_in_memory_and_added_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = Document.from_dict(GOOD)
    validate_gold([doc])
    with pytest.raises(GoldError, match="gold: no documents"):
        validate_gold([])

    def no_officials(d: Document, schema) -> list[str]:  # another annotation layer adds its check like this
        return [f"OFFICIAL at [{s.start}:{s.end}]" for s in d.spans if s.label == "OFFICIAL"]

    monkeypatch.setattr(gold, "CHECKS", [*gold.CHECKS, no_officials])
    with pytest.raises(GoldError, match=r"mine\.jsonl:7: document g1: OFFICIAL at \[28:37\]"):
        validate_gold([doc], origin="mine.jsonl", lines=[7])
