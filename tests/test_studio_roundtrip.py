"""Label Studio round trips against the real session server (no mocks).

init -> push (with pre-annotations) -> annotate through the API as an annotator would -> pull,
plus the reports of a pull over bad annotations and import-gold -> pull over the bundled seeds.
Each test works in its own project.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from studio_fixtures import Studio, studio_cli, studio_client

from annotation.client import guidelines_html, push_documents
from annotation.export import (
    CANCELLED,
    EMPTY,
    INVALID_RELATION,
    INVALID_SPAN,
    NOT_USED,
    NOT_WRITTEN,
    convert_export,
)
from annotation.labeling_config import FROM_NAME, TO_NAME, labeling_config
from annotation.tasks import nfc
from corpus.document import Document, Span
from corpus.ingest import ingest
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE, BUNDLED_SEEDS_DIR
from corpus.schema import load_schema
from corpus.spans import validate_spans
from corpus.store import CorpusStore
from models import load_model

SCHEMA = load_schema()


@pytest.fixture
def client(studio: Studio) -> Iterator:
    with studio_client(studio) as connected:
        yield connected


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _init(studio: Studio, client, title: str) -> int:
    _ok(studio_cli(studio, "init", "--title", title))
    return client.project_id(title)


def _find(text: str, needle: str, label: str, occurrence: int = 0) -> Span:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(needle, start + 1)
    return Span(start, start + len(needle), label)


def _region(text: str, span: Span, surface: str | None = None, label: str | None = None) -> dict:
    """A result item as the labeling UI submits it."""
    return {
        "id": f"ui{span.start}x{span.end}",
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "labels",
        "value": {
            "start": span.start,
            "end": span.end,
            "text": text[span.start:span.end] if surface is None else surface,
            "labels": [label or span.label],
        },
    }


def _pull(studio: Studio, title: str, out: Path, *extra: str) -> dict[str, dict]:
    _ok(studio_cli(studio, "pull", "--project", title, "--out", str(out), *extra))
    return {record["id"]: record for record in map(json.loads, out.read_text(encoding="utf-8").splitlines())}


def _spans(record: dict) -> list[Span]:
    return [Span(s["start"], s["end"], s["label"]) for s in record["spans"]]


# ----------------------------------------------------------------------------- init


def test_init_creates_the_project_then_updates_it_in_place(studio: Studio, client) -> None:
    title = "vner test init"
    first = _ok(studio_cli(studio, "init", "--title", title))
    assert f"created project {title!r}" in first
    project_id = client.project_id(title)
    project = client.get_project(project_id)
    assert project.label_config == labeling_config(SCHEMA)
    # The server cleans instructions with bleach: equality means nothing of the guidelines was stripped.
    assert project.expert_instruction == guidelines_html()
    assert project.show_instruction and project.show_collab_predictions
    assert "English summary" in project.expert_instruction and "Nguyên tắc chung" in project.expert_instruction
    assert all(name in project.expert_instruction for name in SCHEMA.names)

    client.sdk.projects.update(project_id, expert_instruction="<p>old guidelines</p>")
    again = _ok(studio_cli(studio, "init", "--title", title))
    assert "updated: guidelines" in again and "labeling config" not in again.split("updated:")[1]
    assert [p.id for p in client.find_projects(title)] == [project_id]
    assert client.get_project(project_id).expert_instruction == guidelines_html()
    assert "already current" in _ok(studio_cli(studio, "init", "--title", title))


def test_commands_need_an_existing_project(studio: Studio, tmp_path: Path) -> None:
    result = studio_cli(studio, "pull", "--project", "vner no such project", "--out", str(tmp_path / "x.jsonl"))
    assert result.exit_code == 1 and "vner studio init" in result.output
    assert not (tmp_path / "x.jsonl").exists()


# ----------------------------------------------------------------------------- push


def test_push_seeds_with_pre_annotations_then_repush_adds_nothing(
    studio: Studio, client, seed_model: Path, tmp_path: Path
) -> None:
    title = "vner test seeds"
    project_id = _init(studio, client, title)
    out = _ok(studio_cli(studio, "push", "--project", title, "--pre-annotate", str(seed_model), "--batch-size", "2"))
    assert "added 5 tasks" in out and "in 3 batches" in out
    version = load_model(seed_model).version
    assert version.startswith(f"{seed_model.name}@20")  # dir name @ created date of vner-model.json
    assert f"pre-annotated by {version}" in out
    assert client.get_project(project_id).model_version == version  # the labeling view shows these drafts

    store = CorpusStore(tmp_path / "seeds.jsonl")
    ingest([BUNDLED_SEEDS_DIR], store)
    expected = {doc.id: doc for doc in read_documents(store.path)}
    tasks = client.export(project_id)
    assert sorted(t["data"]["doc_id"] for t in tasks) == sorted(expected)

    from models import predict

    arrow_count = 0
    for task in tasks:
        data = task["data"]
        doc = expected[data["doc_id"]]
        assert data["text"] == doc.text == unicodedata.normalize("NFC", doc.text)
        assert (data["title"], data["date"], data["source"]) == (doc.title, doc.date, doc.source)
        assert task["annotations"] == []
        [prediction] = task["predictions"]
        assert prediction["model_version"] == version
        found = predict(doc.text, seed_model, records=True)
        predicted = [Span(e["start"], e["end"], e["label"]) for e in found["entities"]]
        valid, _ = validate_spans(doc.text, predicted, SCHEMA)
        regions = [region for region in prediction["result"] if region["type"] == "labels"]
        values = [region["value"] for region in regions]
        assert [Span(v["start"], v["end"], v["labels"][0]) for v in values] == valid
        assert all(v["text"] == doc.text[v["start"]:v["end"]] for v in values)
        assert prediction["score"] is None  # spaCy entities carry no score, so the prediction has none
        # The model's HOLDS/PERIOD links come as arrows between the draft's regions.
        at = {region["id"]: (region["value"]["start"], region["value"]["end"]) for region in regions}
        arrows = {(at[a["from_id"]], at[a["to_id"]], a["labels"][0])
                  for a in prediction["result"] if a["type"] == "relation" and a["direction"] == "right"}
        assert len(arrows) == len(prediction["result"]) - len(regions)
        valid_at = {(s.start, s.end) for s in valid}
        assert arrows == {(tuple(r["head"]), tuple(r["tail"]), r["type"]) for r in found["relations"]
                          if tuple(r["head"]) in valid_at and tuple(r["tail"]) in valid_at}
        arrow_count += len(arrows)
    assert arrow_count > 0 and f"{arrow_count} relations among their spans" in out

    again = _ok(studio_cli(studio, "push", "--project", title, "--pre-annotate", str(seed_model)))
    assert "added 0 tasks" in again and "5 already there" in again
    assert len(list(client.iter_tasks(project_id, page_size=2))) == 5  # paged listing sees every task

    pulled = _ok(studio_cli(studio, "pull", "--project", title, "--out", str(tmp_path / "none.jsonl")))
    assert (tmp_path / "none.jsonl").read_text() == ""
    assert re.search(r"tasks without annotations \(not written\)\s+5\b", pulled)
    assert re.search(r"of which with predictions only \(drafts, never submitted\)\s+5\b", pulled)


# ----------------------------------------------------------------------------- round trip

NFC_TEXT = (
    "Ngày 3-4, Huyện ủy Hậu Lộc tổ chức hội nghị Ban Chấp hành Đảng bộ huyện lần thứ 15.\n\n"
    "Đồng chí Hoàng Anh Tuấn, Bí thư Huyện ủy, Chủ tịch HĐND huyện phát biểu tại hội nghị."
)
OLD_STYLE_TEXT = (
    "Sáng 5-4, Huyện uỷ Thọ Xuân tổ chức hội nghị Ban chấp hành Đảng bộ huyện lần thứ 12, khoá XXVII; "
    "công tác hoà giải ở cơ sở được chú trọng, tốc độ tăng giá trị sản xuất đạt 16,6%."
)
NFD_SOURCE = "Phó Chủ tịch UBND huyện Vũ Thị Hà trình bày kế hoạch hành động năm 2024 tại xã Kim Song Trường."
QUOTE_TEXT = (
    'Ông Phan Cao Kỳ, Trưởng phòng "NN&PTNT", nói: "Thu ngân sách ước đạt 150 tỷ đồng" '
    "và “Ban QLDA Thăng Long” đã bàn giao 1.351 mốc <GPMB> & 19,43/19,43km."
)

# doc id -> (text as given to push, [(surface in the NFC text, label), ...])
ROUND_TRIP = {
    "rt-nfc": (NFC_TEXT, [("Ngày 3-4", "DATE"), ("Huyện ủy Hậu Lộc", "UNIT"), ("Ban Chấp hành Đảng bộ huyện", "UNIT"),
                          ("Hoàng Anh Tuấn", "OFFICIAL"), ("Bí thư Huyện ủy", "POSITION"),
                          ("Chủ tịch HĐND huyện", "POSITION")]),
    "rt-old-style": (OLD_STYLE_TEXT, [("5-4", "DATE"), ("Huyện uỷ Thọ Xuân", "UNIT"),
                                      ("Ban chấp hành Đảng bộ huyện", "UNIT"), ("16,6%", "FIGURE")]),
    "rt-nfd": (unicodedata.normalize("NFD", NFD_SOURCE),
               [("Phó Chủ tịch UBND huyện", "POSITION"), ("Vũ Thị Hà", "OFFICIAL"), ("năm 2024", "DATE"),
                ("xã Kim Song Trường", "LOCATION")]),
    "rt-quote": (QUOTE_TEXT, [("Phan Cao Kỳ", "OFFICIAL"), ("NN&PTNT", "UNIT"), ("150 tỷ đồng", "FIGURE"),
                              ("Ban QLDA Thăng Long", "UNIT"), ("1.351 mốc", "FIGURE"),
                              ("19,43/19,43km", "FIGURE")]),
}


def _hand_predictor(texts: list[str]) -> list[list[dict]]:
    """Hand-written model output: scores on the first text, none on the second, nothing on the others."""
    found = []
    for text in texts:
        if text.startswith("Ngày 3-4"):
            found.append([
                {"start": 0, "end": 8, "label": "DATE", "text": text[:8], "score": 0.9},
                {"start": 10, "end": 26, "label": "UNIT", "text": text[10:26], "score": 0.7},
                {"start": 0, "end": 9, "label": "DATE", "text": text[:9], "score": 0.5},  # "Ngày 3-4,": refused
            ])
        elif "Thọ Xuân" in text:
            found.append([{"start": 10, "end": 27, "label": "UNIT", "text": text[10:27], "score": None}])
        else:
            found.append([])
    return found


def test_round_trip_gives_back_exactly_the_submitted_spans(studio: Studio, client, tmp_path: Path) -> None:
    title = "vner test round trip"
    project_id = _init(studio, client, title)
    store = tmp_path / "store.jsonl"
    write_documents(store, [Document(id=doc_id, text=text, title=text.split(",")[0], source="test.txt")
                            for doc_id, (text, _) in ROUND_TRIP.items()])
    assert unicodedata.normalize("NFC", read_documents(store)[2].text) != read_documents(store)[2].text  # NFD on disk

    report = push_documents(client, project_id, read_documents(store), SCHEMA, batch_size=3,
                            predictor=_hand_predictor, model_version="hand@2024-01-01")
    assert report.added == list(ROUND_TRIP) and report.batches == 2 and report.normalized == ["rt-nfd"]
    assert report.predictions == 2
    assert [(doc_id, p.span.end, "punctuation" in p.reason) for doc_id, p in report.refused_predictions] == [
        ("rt-nfc", 9, True)
    ]
    repush = _ok(studio_cli(studio, "push", "--project", title, "--store", str(store)))
    assert "added 0 tasks" in repush and "4 already there" in repush

    tasks = {t["data"]["doc_id"]: t for t in client.export(project_id)}
    by_doc = {doc_id: [p for p in t["predictions"]] for doc_id, t in tasks.items()}
    assert by_doc["rt-nfc"][0]["score"] == pytest.approx(0.8)  # mean entity score
    assert [r["value"]["text"] for r in by_doc["rt-nfc"][0]["result"]] == ["Ngày 3-4", "Huyện ủy Hậu Lộc"]
    assert by_doc["rt-old-style"][0]["score"] is None and len(by_doc["rt-old-style"][0]["result"]) == 1
    assert by_doc["rt-nfd"] == [] and by_doc["rt-quote"] == []

    expected: dict[str, list[Span]] = {}
    for doc_id, (original, marks) in ROUND_TRIP.items():
        task_text = tasks[doc_id]["data"]["text"]
        assert task_text == nfc(original)  # what annotators see (and what the server keeps byte for byte)
        spans = [_find(task_text, surface, label) for surface, label in marks]
        client.create_annotation(tasks[doc_id]["id"], [_region(task_text, span) for span in spans])
        expected[doc_id] = sorted(spans)

    pulled = _pull(studio, title, tmp_path / "gold.jsonl")
    assert sorted(pulled) == sorted(ROUND_TRIP)
    for doc_id, (original, _) in ROUND_TRIP.items():
        record = pulled[doc_id]
        assert record["text"] == unicodedata.normalize("NFC", original)
        assert _spans(record) == expected[doc_id]
        assert {(record["text"][s.start:s.end], s.label) for s in expected[doc_id]} == set(ROUND_TRIP[doc_id][1])
        assert list(record) == ["id", "title", "date", "source", "text", "spans"]
    old = pulled["rt-old-style"]["text"]
    assert "Huyện uỷ Thọ Xuân" in old and "hoà giải" in old and "khoá XXVII" in old  # tone marks kept as found
    assert pulled["rt-nfd"]["text"] != ROUND_TRIP["rt-nfd"][0]
    assert '"NN&PTNT"' in pulled["rt-quote"]["text"] and "<GPMB> &" in pulled["rt-quote"]["text"]


# ----------------------------------------------------------------------------- bad exports

BAD_TEXT = "Sáng 14/6, Ban Thường vụ Huyện ủy Can Lộc tổ chức họp; Bí thư Huyện ủy Can Lộc Nghiêm Sỹ Đống chủ trì."
SHORT = {
    "bad-spans": BAD_TEXT,
    "empty-only": "Trưởng phòng TN&MT Trần Đình Việt phát biểu.",
    "cancelled-then-valid": "Ban QLDA Thăng Long đã bàn giao 1.351 mốc GPMB.",
    "truth-wins": "Thu ngân sách ước đạt 150 tỷ đồng, bằng 75% kế hoạch.",
    "latest-wins": "Hội đồng bồi thường - GPMB huyện đã kiểm đếm 234 hộ.",
    "unannotated": "Huyện đã sẵn sàng các kế hoạch.",
}


def test_bad_annotations_are_reported_and_valid_spans_still_come_out(
    studio: Studio, client, tmp_path: Path
) -> None:
    title = "vner test bad exports"
    project_id = _init(studio, client, title)
    store = tmp_path / "short.jsonl"
    write_documents(store, [Document(id=k, text=v) for k, v in SHORT.items()])
    _ok(studio_cli(studio, "push", "--project", title, "--store", str(store)))
    task = {doc_id: task_id for doc_id, task_id in client.task_index(project_id).by_doc_id.items()}

    t = BAD_TEXT
    date, unit = _find(t, "14/6", "DATE"), _find(t, "Ban Thường vụ Huyện ủy Can Lộc", "UNIT")
    overlapping = _find(t, "Can Lộc", "LOCATION")  # inside the UNIT
    shifted = _find(t, "Bí thư Huyện ủy Can Lộc", "POSITION")
    unknown = _find(t, "Nghiêm Sỹ Đống", "PERSON")
    outside = Span(len(t) - 3, len(t) + 5, "DATE")
    client.create_annotation(task["bad-spans"], [
        _region(t, date), _region(t, unit), _region(t, overlapping),
        _region(t, shifted, surface="Bí thư Huyện ủy"),  # offsets and span text disagree
        _region(t, unknown), _region(t, outside, surface="ì.xx"),
    ])
    client.create_annotation(task["empty-only"], [])

    c = SHORT["cancelled-then-valid"]
    cancelled = client.create_annotation(task["cancelled-then-valid"], [], was_cancelled=True)
    client.create_annotation(task["cancelled-then-valid"], [_region(c, _find(c, "Ban QLDA Thăng Long", "UNIT"))])

    g = SHORT["truth-wins"]
    truth_spans = [_find(g, "150 tỷ đồng", "FIGURE"), _find(g, "75% kế hoạch", "FIGURE")]
    client.create_annotation(task["truth-wins"], [_region(g, s) for s in truth_spans], ground_truth=True)
    later = client.create_annotation(task["truth-wins"], [_region(g, _find(g, "150 tỷ đồng", "TARGET"))])

    h = SHORT["latest-wins"]
    first = client.create_annotation(task["latest-wins"], [_region(h, _find(h, "234 hộ", "DATE"))])
    latest_spans = [_find(h, "Hội đồng bồi thường - GPMB huyện", "UNIT"), _find(h, "234 hộ", "FIGURE")]
    client.create_annotation(task["latest-wins"], [_region(h, s) for s in latest_spans])

    out = tmp_path / "gold.jsonl"
    result = studio_cli(studio, "pull", "--project", title, "--out", str(out))
    assert result.exit_code == 0, result.output  # reported, not crashed
    assert re.search(r"invalid spans \(reported, not written\)\s+4\b", result.output)
    assert re.search(r"cancelled annotations \(not used\)\s+1\b", result.output)
    assert re.search(r"empty annotations \(not used\)\s+1\b", result.output)
    pulled = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert sorted(pulled) == ["bad-spans", "cancelled-then-valid", "latest-wins", "truth-wins"]
    assert _spans(pulled["bad-spans"]) == [date, unit]  # the valid spans of a bad annotation still come out
    assert _spans(pulled["cancelled-then-valid"]) == [_find(c, "Ban QLDA Thăng Long", "UNIT")]
    assert _spans(pulled["truth-wins"]) == truth_spans  # ground truth beats the later annotation
    assert _spans(pulled["latest-wins"]) == latest_spans

    strict = studio_cli(studio, "pull", "--project", title, "--out", str(tmp_path / "strict.jsonl"), "--strict")
    assert strict.exit_code == 2

    report = convert_export(client.export(project_id), SCHEMA)
    invalid = {(i.doc_id, i.span.start, i.span.end, i.span.label): i.reason for i in report.of(INVALID_SPAN)}
    assert set(invalid) == {
        ("bad-spans", overlapping.start, overlapping.end, "LOCATION"),
        ("bad-spans", shifted.start, shifted.end, "POSITION"),
        ("bad-spans", unknown.start, unknown.end, "PERSON"),
        ("bad-spans", outside.start, outside.end, "DATE"),
    }
    assert invalid[("bad-spans", overlapping.start, overlapping.end, "LOCATION")].startswith(
        f"overlaps [{unit.start}:{unit.end}] UNIT")
    assert "does not match" in invalid[("bad-spans", shifted.start, shifted.end, "POSITION")]
    assert "unknown label" in invalid[("bad-spans", unknown.start, unknown.end, "PERSON")]
    assert "past the end of the text" in invalid[("bad-spans", outside.start, outside.end, "DATE")]
    assert [(i.doc_id, i.annotation_id) for i in report.of(CANCELLED)] == [("cancelled-then-valid", cancelled)]
    assert [i.doc_id for i in report.of(EMPTY)] == ["empty-only"]
    assert [i.doc_id for i in report.of(NOT_WRITTEN)] == ["empty-only"]
    assert [(i.doc_id, i.annotation_id) for i in report.of(NOT_USED)] == [("truth-wins", later), ("latest-wins", first)]
    assert report.unannotated == 1 and len(report.documents) == 4

    allowed = convert_export(client.export(project_id), SCHEMA, allow_empty=True)
    assert [d.spans for d in allowed.documents if d.id == "empty-only"] == [[]]


# ----------------------------------------------------------------------------- import gold


def test_import_gold_then_pull_reproduces_the_seed_gold(studio: Studio, client, tmp_path: Path) -> None:
    title = "vner test gold"
    project_id = _init(studio, client, title)
    gold = [json.loads(line) for line in BUNDLED_GOLD_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    relation_count = sum(len(record["relations"]) for record in gold)
    assert relation_count == 43  # HOLDS and PERIOD links go through Label Studio as arrows and come back
    # Two of the documents are already tasks (pushed without annotations): their gold goes onto those tasks.
    store = tmp_path / "two.jsonl"
    write_documents(store, read_documents(BUNDLED_GOLD_FILE)[:2])
    assert "added 2 tasks" in _ok(studio_cli(studio, "push", "--project", title, "--store", str(store)))

    out = _ok(studio_cli(studio, "import-gold", str(BUNDLED_GOLD_FILE), "--project", title, "--batch-size", "2"))
    assert "new tasks with the gold annotation: 3; gold annotation added to existing tasks: 2; already there: 0" in out
    assert f"relations imported with the gold annotations: {relation_count}" in out

    pulled = tmp_path / "pulled.jsonl"
    pull_out = _ok(studio_cli(studio, "pull", "--project", title, "--out", str(pulled), "--relations-annotated"))
    assert f"{relation_count} relations to" in pull_out and "invalid" not in pull_out
    assert [json.loads(line) for line in pulled.read_text(encoding="utf-8").splitlines()] == gold
    assert pulled.read_bytes() == BUNDLED_GOLD_FILE.read_bytes()
    # Without the declaration, the one seed without any link is not claimed to be annotated for relations.
    undeclared = _pull(studio, title, tmp_path / "undeclared.jsonl")
    assert [doc_id for doc_id, record in undeclared.items() if "relations" not in record] == ["seed-004"]
    assert all(undeclared[r["id"]] == r for r in gold if r["relations"])

    again = _ok(studio_cli(studio, "import-gold", str(BUNDLED_GOLD_FILE), "--project", title))
    assert "gold annotation: 0; gold annotation added to existing tasks: 0; already there: 5" in again
    assert len(list(client.iter_tasks(project_id))) == 5


# ----------------------------------------------------------------------------- relations

LINK_TEXT = (
    "Đồng chí Hoàng Anh Tuấn, Bí thư Huyện ủy, Chủ tịch HĐND huyện phát biểu tại hội nghị.\n\n"
    "Năm 2023, thu ngân sách trên địa bàn đạt 150 tỷ đồng, bằng 102% KH."
)


def _link_predictor(texts: list[str]) -> list:
    """Hand-written ``predict(records=True)`` answers: two HOLDS, one PERIOD whose value span is refused."""
    out = []
    for text in texts:
        name, post, chair = (_find(text, s, "X") for s in ("Hoàng Anh Tuấn", "Bí thư Huyện ủy", "Chủ tịch HĐND huyện"))
        year, money = _find(text, "Năm 2023", "X"), _find(text, "150 tỷ đồng", "X")
        money_comma = Span(money.start, money.end + 1, "X")  # "150 tỷ đồng,": ends on punctuation, refused
        entities = [{"start": s.start, "end": s.end, "label": label, "score": 0.9}
                    for s, label in ((name, "OFFICIAL"), (post, "POSITION"), (chair, "POSITION"), (year, "DATE"),
                                     (money_comma, "FIGURE"))]
        relations = [{"head": [name.start, name.end], "tail": [s.start, s.end], "type": "HOLDS"} for s in (post, chair)]
        relations.append({"head": [money_comma.start, money_comma.end], "tail": [year.start, year.end],
                          "type": "PERIOD"})
        out.append({"entities": entities, "relations": relations, "records": {}})
    return out


def test_push_drafts_carry_relations_and_a_submitted_draft_pulls_them(
    studio: Studio, client, tmp_path: Path
) -> None:
    title = "vner test relation drafts"
    project_id = _init(studio, client, title)
    report = push_documents(client, project_id, [Document(id="links", text=LINK_TEXT)], SCHEMA,
                            predictor=_link_predictor, model_version="links@2024-01-01")
    assert report.predictions == 1 and report.relations == 2
    refused = [(doc_id, str(problem)) for doc_id, problem in report.refused_predictions]
    money = _find(LINK_TEXT, "150 tỷ đồng", "FIGURE")
    year = _find(LINK_TEXT, "Năm 2023", "DATE")
    assert [doc_id for doc_id, _ in refused] == ["links", "links"]
    assert "punctuation" in refused[0][1]  # the span, then the link that lost its head with it
    assert refused[1][1] == f"PERIOD [{money.start}:{money.end + 1}] -> [{year.start}:{year.end}]: " \
                            "head not a span of the document"

    [task] = client.export(project_id)
    [draft] = task["predictions"]
    regions = {r["id"]: r["value"]["text"] for r in draft["result"] if r["type"] == "labels"}
    arrows = [(regions[a["from_id"]], regions[a["to_id"]], a["labels"]) for a in draft["result"]
              if a["type"] == "relation"]
    assert arrows == [("Hoàng Anh Tuấn", "Bí thư Huyện ủy", ["HOLDS"]),
                      ("Hoàng Anh Tuấn", "Chủ tịch HĐND huyện", ["HOLDS"])]

    client.create_annotation(task["id"], draft["result"])  # the annotator submits the draft as it is
    [record] = _pull(studio, title, tmp_path / "gold.jsonl").values()
    name, post, chair = (_find(LINK_TEXT, s, "X") for s in ("Hoàng Anh Tuấn", "Bí thư Huyện ủy", "Chủ tịch HĐND huyện"))
    assert record["relations"] == [
        {"head": [name.start, name.end], "tail": [post.start, post.end], "type": "HOLDS"},
        {"head": [name.start, name.end], "tail": [chair.start, chair.end], "type": "HOLDS"},
    ]


BAD_LINKS = "Ông Nghiêm Sỹ Đống, Bí thư Huyện ủy Can Lộc, cho biết năm 2023 huyện thu ngân sách 150 tỷ đồng."


def _arrow(head: dict, tail: dict | str, labels: list[str], direction: str = "right") -> dict:
    """A relation item as the labeling UI submits it (``from_id``/``to_id`` of the regions)."""
    to_id = tail if isinstance(tail, str) else tail["id"]
    return {"from_id": head["id"], "to_id": to_id, "type": "relation", "direction": direction, "labels": labels}


def test_invalid_relations_are_reported_by_pull_and_not_written(studio: Studio, client, tmp_path: Path) -> None:
    title = "vner test bad relations"
    project_id = _init(studio, client, title)
    store = tmp_path / "links.jsonl"
    write_documents(store, [Document(id="bad-links", text=BAD_LINKS)])
    _ok(studio_cli(studio, "push", "--project", title, "--store", str(store)))
    [task_id] = client.task_index(project_id).by_doc_id.values()
    t = BAD_LINKS
    name, post = _find(t, "Nghiêm Sỹ Đống", "OFFICIAL"), _find(t, "Bí thư Huyện ủy Can Lộc", "POSITION")
    year, money = _find(t, "năm 2023", "DATE"), _find(t, "150 tỷ đồng", "FIGURE")
    unknown = _find(t, "cho biết", "PERSON")  # not a label of the schema: the span is refused
    r_name, r_post, r_year, r_money, r_unknown = (_region(t, s) for s in (name, post, year, money, unknown))
    client.create_annotation(task_id, [
        r_name, r_post, r_year, r_money, r_unknown,
        _arrow(r_name, r_post, ["HOLDS"]),  # valid
        _arrow(r_year, r_money, ["PERIOD"], direction="left"),  # valid: drawn from the date, pointing back
        _arrow(r_name, r_year, ["PERIOD"]),  # OFFICIAL -> DATE: not a PERIOD pair
        _arrow(r_post, r_name, ["HOLDS"]),  # drawn the wrong way
        _arrow(r_name, r_post, ["HOLDS"]),  # the same link again
        _arrow(r_name, "ghost-region", ["HOLDS"]),  # dangling end
        _arrow(r_name, r_unknown, ["HOLDS"]),  # tail is a refused span
        _arrow(r_money, r_year, []),  # no type chosen
        _arrow(r_money, r_year, ["PERIOD"], direction="bi"),  # both ways
        _arrow(r_name, r_post, ["MEMBER_OF"]),  # not a relation type of the schema
    ])

    out = tmp_path / "gold.jsonl"
    result = studio_cli(studio, "pull", "--project", title, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert re.search(r"invalid relations \(reported, not written\)\s+8\b", result.output)
    assert re.search(r"invalid spans \(reported, not written\)\s+1\b", result.output)
    [record] = map(json.loads, out.read_text(encoding="utf-8").splitlines())
    assert record["relations"] == [
        {"head": [name.start, name.end], "tail": [post.start, post.end], "type": "HOLDS"},
        {"head": [money.start, money.end], "tail": [year.start, year.end], "type": "PERIOD"},
    ]
    assert studio_cli(studio, "pull", "--project", title, "--out", str(tmp_path / "s.jsonl"), "--strict").exit_code == 2

    report = convert_export(client.export(project_id), SCHEMA)
    found = sorted((i.where.split(", ")[-1], i.reason) for i in report.of(INVALID_RELATION))
    assert all(i.doc_id == "bad-links" and i.task_id == task_id for i in report.of(INVALID_RELATION))
    at = lambda s: f"[{s.start}:{s.end}]"  # noqa: E731
    assert found == sorted([
        (f"HOLDS {at(name)} -> {at(post)}", "duplicate of an earlier relation"),
        (f"HOLDS {at(post)} -> {at(name)}", "links POSITION -> OFFICIAL; HOLDS links OFFICIAL -> POSITION: the arrow "
         "points the wrong way (draw it from the OFFICIAL to the POSITION, or flip its direction)"),
        (f"MEMBER_OF {at(name)} -> {at(post)}", "unknown relation type (known: HOLDS, PERIOD)"),
        (f"PERIOD {at(name)} -> {at(year)}", "links OFFICIAL -> DATE; PERIOD links FIGURE/TARGET -> DATE"),
        (f"annotation {i_annotation(report)}", f"HOLDS arrow from region {r_name['id']!r} to region 'ghost-region' "
         f"(head {at(name)}): its tail region 'ghost-region' is not in the annotation"),
        (f"annotation {i_annotation(report)}", f"HOLDS arrow from region {r_name['id']!r} to region "
         f"{r_unknown['id']!r} (head {at(name)}): its tail {at(unknown)} PERSON is not written (invalid span)"),
        (f"untyped {at(money)} -> {at(year)}", f"untyped arrow from region {r_money['id']!r} to region "
         f"{r_year['id']!r}: arrow without a relation type (choose one of the types for it)"),
        (f"PERIOD {at(money)} -> {at(year)}", f"PERIOD arrow from region {r_money['id']!r} to region "
         f"{r_year['id']!r}: arrow drawn both ways (direction 'bi'): a relation goes one way, from head to tail"),
    ])


def i_annotation(report) -> int:
    """The id of the one annotation the report speaks of."""
    [annotation_id] = {i.annotation_id for i in report.issues if i.annotation_id is not None}
    return annotation_id
