"""Relation rules (HOLDS, PERIOD) and records: on the seed gold, on the spec's cases, on any text form."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.document import Relation, Span
from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.relation_scoring import score_relations
from corpus.schema import LabelSchema, load_schema, with_default_relations
from models.records import records_of
from models.relations import rule_relations, sentence_bounds

SCHEMA = load_schema()
SEEDS = read_documents(BUNDLED_GOLD_FILE)


def _spans(text: str, marked: list[tuple[str, str]]) -> list[Span]:
    """Spans for (surface, label) pairs, each found after the previous one."""
    spans, pos = [], 0
    for surface, label in marked:
        start = text.index(surface, pos)
        spans.append(Span(start, start + len(surface), label))
        pos = start + len(surface)
    return spans


def _links(text: str, marked: list[tuple[str, str]]) -> set[tuple[str, str, str]]:
    return {
        (text[r.head[0]:r.head[1]], r.type, text[r.tail[0]:r.tail[1]])
        for r in rule_relations(text, _spans(text, marked), SCHEMA)
    }


def test_rules_find_every_seed_relation_from_gold_entities() -> None:
    pairs = [(doc.relations, rule_relations(doc.text, doc.spans, SCHEMA)) for doc in SEEDS]
    scores = score_relations(SCHEMA.relation_names, pairs)
    assert scores.micro()["support"] == 43
    assert [case.relation for case in scores.cases] == []


def test_holds_before_after_chained_and_one_holder_per_post() -> None:
    text = ("Các đồng chí: Hoàng Anh Tuấn, Bí thư Huyện ủy, Chủ tịch HĐND huyện; Nguyễn Minh Hoàng, Phó Bí thư "
            "Huyện ủy và Phó Chủ tịch UBND huyện Vũ Thị Hà dự họp. Ông Lê Văn A - Giám đốc Sở Tài chính kiêm "
            "Chủ tịch Hội đồng.")
    marked = [("Hoàng Anh Tuấn", "OFFICIAL"), ("Bí thư Huyện ủy", "POSITION"), ("Chủ tịch HĐND huyện", "POSITION"),
              ("Nguyễn Minh Hoàng", "OFFICIAL"), ("Phó Bí thư Huyện ủy", "POSITION"),
              ("Phó Chủ tịch UBND huyện", "POSITION"), ("Vũ Thị Hà", "OFFICIAL"), ("Lê Văn A", "OFFICIAL"),
              ("Giám đốc Sở Tài chính", "POSITION"), ("Chủ tịch Hội đồng", "POSITION")]
    assert _links(text, marked) == {
        ("Hoàng Anh Tuấn", "HOLDS", "Bí thư Huyện ủy"), ("Hoàng Anh Tuấn", "HOLDS", "Chủ tịch HĐND huyện"),
        ("Nguyễn Minh Hoàng", "HOLDS", "Phó Bí thư Huyện ủy"),
        ("Vũ Thị Hà", "HOLDS", "Phó Chủ tịch UBND huyện"),  # right before the name: not Hoàng's "và ..." post
        ("Lê Văn A", "HOLDS", "Giám đốc Sở Tài chính"), ("Lê Văn A", "HOLDS", "Chủ tịch Hội đồng"),
    }


def test_holds_never_crosses_a_sentence_or_a_plain_list_comma() -> None:
    text = "Chủ tịch UBND tỉnh phát biểu. Nguyễn Văn B cho biết; Trần C, Lê D dự họp."
    marked = [("Chủ tịch UBND tỉnh", "POSITION"), ("Nguyễn Văn B", "OFFICIAL"), ("Trần C", "OFFICIAL"),
              ("Lê D", "OFFICIAL")]
    assert _links(text, marked) == set()


def test_period_same_sentence_nearest_before_else_after() -> None:
    text = ("Tổng thu ngân sách quý I-2023 ước đạt 164,5 tỷ đồng, tăng 12% so với cùng kỳ năm 2022; "
            "giá trị xuất khẩu đạt 32 triệu USD. Khen thưởng 8 tập thể và 26 cá nhân xuất sắc năm 2023. "
            "Năm 2022 đạt 100 tỷ đồng, năm 2023 đạt 120 tỷ đồng.")
    marked = [("quý I-2023", "DATE"), ("164,5 tỷ đồng", "FIGURE"), ("12%", "FIGURE"), ("năm 2022", "DATE"),
              ("32 triệu USD", "FIGURE"), ("8 tập thể", "FIGURE"), ("26 cá nhân", "FIGURE"), ("năm 2023", "DATE"),
              ("Năm 2022", "DATE"), ("100 tỷ đồng", "FIGURE"), ("năm 2023", "DATE"), ("120 tỷ đồng", "FIGURE")]
    assert _links(text, marked) == {
        ("164,5 tỷ đồng", "PERIOD", "quý I-2023"),
        ("12%", "PERIOD", "quý I-2023"),  # "so với cùng kỳ năm 2022" is a comparison base
        ("8 tập thể", "PERIOD", "năm 2023"), ("26 cá nhân", "PERIOD", "năm 2023"),  # a list, one period after it
        ("100 tỷ đồng", "PERIOD", "Năm 2022"), ("120 tỷ đồng", "PERIOD", "năm 2023"),
    }  # "32 triệu USD": ";" ends the sentence, so quý I-2023 does not reach it


def test_period_skips_event_days_and_approvals_but_keeps_cut_offs() -> None:
    text = ("Ngày 3-4, huyện tổ chức hội nghị với 200 đại biểu. Tính đến ngày 30/6, toàn tỉnh có 1.200 hộ nghèo. "
            "Dự án được phê duyệt năm 2009 với tổng vốn 17.388 tỷ đồng. Kỳ họp (nhiệm kỳ 2019 - 2024) có 5 người.")
    marked = [("Ngày 3-4", "DATE"), ("200 đại biểu", "FIGURE"), ("ngày 30/6", "DATE"), ("1.200 hộ nghèo", "FIGURE"),
              ("năm 2009", "DATE"), ("17.388 tỷ đồng", "FIGURE"), ("nhiệm kỳ 2019 - 2024", "DATE"),
              ("5 người", "FIGURE")]
    assert _links(text, marked) == {("1.200 hộ nghèo", "PERIOD", "ngày 30/6")}


def test_sentences_end_at_period_semicolon_and_line_break_not_inside_abbreviations_or_spans() -> None:
    text = "Tại TP. Hà Tĩnh, thu 6.325 tỷ đồng; chi 12 tỷ.\nMới"
    ends = sentence_bounds(text, [Span(text.index("6.325"), text.index("6.325") + 13, "FIGURE")])
    assert [text[:e] for e in ends] == ["Tại TP. Hà Tĩnh, thu 6.325 tỷ đồng;", "Tại TP. Hà Tĩnh, thu 6.325 tỷ đồng; "
                                        "chi 12 tỷ.", "Tại TP. Hà Tĩnh, thu 6.325 tỷ đồng; chi 12 tỷ.\n"]


def test_only_the_schema_relation_types_are_produced() -> None:
    text = "Năm 2024, Chủ tịch UBND huyện Vũ Thị Hà báo cáo 27 chỉ tiêu."
    spans = _spans(text, [("Năm 2024", "DATE"), ("Chủ tịch UBND huyện", "POSITION"), ("Vũ Thị Hà", "OFFICIAL"),
                          ("27 chỉ tiêu", "FIGURE")])
    no_period = LabelSchema(SCHEMA.name, SCHEMA.labels, tuple(r for r in SCHEMA.relations if r.name == "HOLDS"))
    assert {r.type for r in rule_relations(text, spans, no_period)} == {"HOLDS"}
    old_model = LabelSchema("old", SCHEMA.labels)  # a model trained before relation types existed
    assert with_default_relations(old_model).relation_names == ("HOLDS", "PERIOD")
    assert {r.type for r in rule_relations(text, spans, with_default_relations(old_model))} == {"HOLDS", "PERIOD"}


# Offsets: the same article written as NFD, with CRLF line breaks and no-break spaces gives the same links.


def _variant(text: str, nfd: bool, crlf: bool, nbsp: bool) -> tuple[str, list[int]]:
    """``text`` rewritten, and for each original position its position in the rewrite."""
    out, where = [], []
    pos = 0
    for char in text:
        where.append(pos)
        piece = unicodedata.normalize("NFD", char) if nfd else char
        piece = "\r\n" if crlf and char == "\n" else "\xa0" if nbsp and char == " " else piece
        out.append(piece)
        pos += len(piece)
    where.append(pos)
    return "".join(out), where


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(range(len(SEEDS))), st.booleans(), st.booleans(), st.booleans())
def test_relations_map_to_the_callers_string(index: int, nfd: bool, crlf: bool, nbsp: bool) -> None:
    doc = SEEDS[index]
    rewritten, where = _variant(doc.text, nfd, crlf, nbsp)
    spans = [Span(where[s.start], where[s.end], s.label) for s in doc.spans]
    expected = sorted(
        Relation((where[r.head[0]], where[r.head[1]]), (where[r.tail[0]], where[r.tail[1]]), r.type)
        for r in rule_relations(doc.text, doc.spans, SCHEMA)
    )
    assert rule_relations(rewritten, spans, SCHEMA) == expected


# Records


def test_records_of_a_seed_article() -> None:
    doc = SEEDS[1]
    records = records_of(doc.text, doc.spans, doc.relations).to_dict()
    people = {p["name"]: p for p in records["people"]}
    assert list(people) == ["Hoàng Anh Tuấn", "Nguyễn Minh Hoàng", "Vũ Thị Hà", "Lường Văn Thắng"]
    tuan = people["Hoàng Anh Tuấn"]
    assert tuan["posts"] == ["Bí thư Huyện ủy", "Chủ tịch HĐND huyện", "Chủ tịch HĐND huyện Hậu Lộc"]
    assert [doc.text[m["start"]:m["end"]] for m in tuan["mentions"]] == ["Hoàng Anh Tuấn"] * 3
    values = records["values"]
    assert len(values) == sum(s.label in ("FIGURE", "TARGET") for s in doc.spans)
    income = next(v for v in values if v["text"].startswith("thu nhập"))
    assert income | {"start": 0, "end": 0} == {
        "start": 0, "end": 0, "text": "thu nhập bình quân đầu người đạt 69 triệu đồng/năm trở lên", "kind": "target",
        "number": 69_000_000, "upper": None, "total": None, "unit": "đồng/năm", "qualifier": "≥", "base": None,
        "indicator": "thu nhập bình quân đầu người", "period": None,
    }
    honoured = [v for v in values if v["period"] and v["period"]["text"] == "năm 2023"]
    assert [v["text"] for v in honoured] == [
        "3 tập thể", "8 tổ chức cơ sở đảng", "36 chi bộ đảng", "56 đảng viên", "19 tập thể", "67 cá nhân",
    ]
    assert all(doc.text[v["start"]:v["end"]] == v["text"] for v in values)


def test_mentions_of_one_name_merge_and_a_short_name_joins_its_full_name() -> None:
    text = ("Ông Nguyễn Văn Hùng, Chủ tịch UBND xã, cho biết. Ông Hùng nói thêm. "
            "Bà Hùng Thị Lan và ông Nguyễn  Văn Hùng.")
    spans = _spans(text, [("Nguyễn Văn Hùng", "OFFICIAL"), ("Chủ tịch UBND xã", "POSITION"), ("Hùng", "OFFICIAL"),
                          ("Hùng Thị Lan", "OFFICIAL"), ("Nguyễn  Văn Hùng", "OFFICIAL")])
    people = records_of(text, spans).to_dict()["people"]
    assert [(p["name"], p["posts"], len(p["mentions"])) for p in people] == [
        ("Nguyễn Văn Hùng", ["Chủ tịch UBND xã"], 3), ("Hùng Thị Lan", [], 1),
    ]


@pytest.mark.parametrize("entities", [[], [{"start": 0, "end": 3, "label": "UNIT", "text": "abc"}]])
def test_records_of_text_without_people_or_values(entities: list) -> None:
    assert records_of("abc def.", entities).to_dict() == {"people": [], "values": []}


def test_records_of_text_with_a_lone_surrogate_stay_utf8_encodable() -> None:
    text = "Ông Lê Văn\ud800 A thu 12\ud800 tỷ đồng năm 2024."
    spans = _spans(text, [("Lê Văn\ud800 A", "OFFICIAL"), ("12\ud800 tỷ đồng", "FIGURE"), ("năm 2024", "DATE")])
    table = records_of(text, spans).to_dict()
    assert table["people"][0]["name"] == "Lê Văn\ufffd A" and table["values"][0]["text"] == "12\ufffd tỷ đồng"
    assert table["values"][0]["period"]["text"] == "năm 2024"
    json.dumps(table, ensure_ascii=False).encode("utf-8")


def test_no_period_for_a_bare_number_date_or_a_value_without_number() -> None:
    text = "Tuyến dài 11,3 km qua các quận 1, 3, 10, 12. Theo Chỉ thị 40-CT/TW năm 2015, vốn đạt 5 tỷ đồng."
    marked = [("11,3 km", "FIGURE"), ("12", "DATE"), ("Chỉ thị 40-CT/TW", "FIGURE"), ("năm 2015", "DATE"),
              ("5 tỷ đồng", "FIGURE")]
    assert _links(text, marked) == {("5 tỷ đồng", "PERIOD", "năm 2015")}


def test_a_period_right_behind_the_value_is_its_own() -> None:
    text = "Năm 2023 cấp 10 xe vào năm 2018 và 30 xe vào năm 2020; phấn đấu tăng trưởng 12% trở lên đến năm 2025."
    marked = [("Năm 2023", "DATE"), ("10 xe", "FIGURE"), ("năm 2018", "DATE"), ("30 xe", "FIGURE"),
              ("năm 2020", "DATE"), ("tăng trưởng 12% trở lên", "TARGET"), ("năm 2025", "DATE")]
    assert _links(text, marked) == {
        ("10 xe", "PERIOD", "năm 2018"), ("30 xe", "PERIOD", "năm 2020"),
        ("tăng trưởng 12% trở lên", "PERIOD", "năm 2025"),
    }


def test_a_period_owned_by_one_value_is_not_another_values() -> None:
    text = ("Đến cuối năm 2022, tỷ lệ hộ nghèo giảm từ 12,5% năm 2018 xuống còn 4,2%. "
            "Năm tới chi 1,2 tỷ đồng và 1,8 tỷ đồng vào năm 2026.")
    marked = [("cuối năm 2022", "DATE"), ("12,5%", "FIGURE"), ("năm 2018", "DATE"), ("4,2%", "FIGURE"),
              ("1,2 tỷ đồng", "FIGURE"), ("1,8 tỷ đồng", "FIGURE"), ("năm 2026", "DATE")]
    assert _links(text, marked) == {
        ("12,5%", "PERIOD", "năm 2018"), ("4,2%", "PERIOD", "cuối năm 2022"), ("1,8 tỷ đồng", "PERIOD", "năm 2026"),
    }


def test_a_value_of_now_takes_no_later_period() -> None:
    text = ("Tỷ lệ che phủ rừng hiện nay là 40%, huyện phấn đấu đến năm 2030 đạt 45%. "
            "Thu nhập tăng 0,5 lần trong năm nay, đến năm 2027 tăng 1,5 lần.")
    marked = [("40%", "FIGURE"), ("năm 2030", "DATE"), ("45%", "TARGET"), ("0,5 lần", "FIGURE"),
              ("năm 2027", "DATE"), ("1,5 lần", "FIGURE")]
    assert _links(text, marked) == {("45%", "PERIOD", "năm 2030"), ("1,5 lần", "PERIOD", "năm 2027")}
