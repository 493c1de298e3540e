"""Relations between entities by rules over sentence structure (``annotation-spec.md`` v1.3).

HOLDS (OFFICIAL -> POSITION), per mention of a name:

- a post right before the name, nothing but an honorific between ("Phó Chủ tịch UBND huyện
  Vũ Thị Hà", "Bí thư Huyện ủy đồng chí X"), with the posts chained before it ("Bí thư Huyện ủy,
  Chủ tịch HĐND huyện Hoàng Anh Tuấn");
- posts in apposition after the name ("X, Bí thư Huyện ủy, Chủ tịch HĐND huyện", "X - Giám
  đốc Sở", "X (Phó Chủ tịch xã)", "X được bầu làm ..."), chained by ``,``, ``kiêm``, ``và``;
- a post before ", ông X" when no earlier name claims it.

A post goes to one person: a post right before a name beats the first post in apposition, which
beats posts chained to either, which beat ", ông"; among equals the nearer name wins.

PERIOD (FIGURE or TARGET -> DATE): each value is linked to one period stated in its sentence (a
clause ending in ``.``, ``;`` or a line break): the one right after the value, directly or behind
"đến", "vào", "trong" ("12% trở lên đến năm 2025", "giảm từ 28,1% năm 2011"), which is then that
value's alone; else the nearest other period before it; else the nearest after it, unless the
value's own time is "now" ("hiện nay là 76%", "0,6 lần trong năm nay, đến năm 2020 ...").
Not periods: a comparison base ("so với năm 2022"), the date of an event ("phê duyệt năm
2009"), a day ("Ngày 3-4", "Sáng 5/1") unless it is a cut-off, a start or a point in time ("tính
đến ngày 30/6", "từ ngày 1/7", "lúc 7h ngày 18-11"). A period inside parentheses serves only the
values inside them. A DATE without a keyword, year or day/month and a value without a number
(both model errors, by the spec's definitions) are not linked.

Works on any text: spans are mapped to the NFC, plain-space text first, and back.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence

from corpus.document import Relation, Span
from corpus.schema import LabelSchema
from corpus.text import normalize
from models.values import parse_value

HOLDS, PERIOD = "HOLDS", "PERIOD"

# Abbreviations whose "." does not end a sentence ("TP. Hà Tĩnh", "TS. Nguyễn Văn A").
ABBREVIATIONS = frozenset({"TP", "Tp", "Q", "P", "TX", "TT", "TS", "ThS", "PGS", "GS", "BS", "KS", "Th.S"})
_SENTENCE_END = re.compile(r"[;\n!?…]|\.(?=\s|$|[\"”’)\]])")
_ABBREVIATION_BEFORE = re.compile(r"(?:^|[^\w.])([\w.]+)$")

_HONORIFIC = r"(?:đồng chí|đ/c|ông|bà|anh|chị)"
# Between a post and the name it precedes.
_TIGHT_BEFORE = re.compile(rf"\s*(?:{_HONORIFIC}\s+)?", re.I)
_LOOSE_BEFORE = re.compile(rf"\s*[,:–—-]\s*{_HONORIFIC}\s+", re.I)
# Between a name and a post in apposition after it.
_VERB = (
    r"(?:nguyên|tân|hiện là|hiện giữ chức|là|làm|giữ chức|từng là|từng làm|từng giữ chức|cũng là|đồng thời là"
    r"|được (?:bầu|bầu giữ|bổ nhiệm|điều động|phân công|giao|chỉ định)(?: giữ chức| làm| là)?)"
)
_AFTER = re.compile(rf"\s*[,(:–—-]\s*(?:{_VERB}\s+)?|\s+{_VERB}\s+", re.I)
# Between two posts of one person.
_CHAIN = re.compile(r"\s*(?:,|kiêm|, kiêm|và|-|–)\s*(?:(?:nguyên|kiêm)\s+)?", re.I)

# Before a DATE that is not the period of a value in its sentence.
_COMPARISON = re.compile(
    r"\bso\s+(?:với\s+)?(?:cùng\s+kỳ\s+|cùng\s+thời\s+điểm\s+|thời\s+điểm\s+|kỳ\s+)?(?:của\s+)?$", re.I
)
# Between a value and the period right after it, which is then its own ("12% trở lên đến năm 2025",
# "giảm từ 28,1% năm 2011").
_ATTACHED = re.compile(r"\s*(?:(?:đến|tới|vào|trong|tính đến)\s+)?", re.I)
# A value's time without a number ("đến nay đạt", "hiện nay là", "trong năm nay"): no DATE span, so no link.
_DEICTIC = re.compile(r"\b(?:đến nay|tới nay|hiện nay|hiện tại|năm nay)\b", re.I)
# An event: "phê duyệt năm 2009", "ban hành hồi tháng 3".
_EVENT = re.compile(
    r"\b(?:phê duyệt|ban hành|ký|ký kết|thông qua|khởi công|động thổ|khánh thành|khai trương|thành lập|diễn ra"
    r"|tổ chức|đi vào hoạt động|đưa vào sử dụng)\s*(?:(?:vào|hồi|từ|trong)\s*)?$|\bhồi\s*$",
    re.I,
)
# What a DATE holds (the spec: a keyword, a year or a day/month): a bare "12" tagged DATE is no period.
_PERIOD_FORM = re.compile(
    r"\d{4}|\b(?:ngày|tháng|quý|năm|giai đoạn|nhiệm kỳ|thời kỳ|kỳ|tuần|vụ|mùa|niên độ|niên khóa|học kỳ|đợt|tết"
    r"|thế kỷ|thập kỷ|thập niên)\b|\d{1,2}\s*[-/.]\s*\d{1,2}",
    re.I,
)
_DAY = re.compile(r"^(?:ngày\s+)?\d{1,2}\s*[-/.]\s*\d{1,2}(?:\s*[-/.]\s*\d{2,4})?$|^ngày\b", re.I)
# A day that is a cut-off, a start or a point in time: "tính đến ngày 30/6", "đến sáng 18-11", "lúc 7h ngày 18-11".
_CUT_OFF = re.compile(
    r"\b(?:(?:tính\s+)?(?:đến|tới|từ|trước)(?:\s+hết)?|lúc)\s*(?:\d{1,2}\s*(?:h|giờ)\s*(?:\d{1,2}\s*(?:phút)?)?\s*)?"
    r"(?:(?:sáng|trưa|chiều|tối|đêm|rạng sáng)\s*)?(?:ngày\s*)?$",
    re.I,
)



def sentence_bounds(text: str, spans: Iterable[Span] = ()) -> list[int]:
    """Positions where a sentence ends (after ``.``, ``;``, ``!``, ``?``, a line break); none inside a span."""
    inside = sorted((s.start, s.end) for s in spans)
    starts = [a for a, _ in inside]
    ends: list[int] = []
    for match in _SENTENCE_END.finditer(text):
        pos = match.start()
        k = bisect.bisect_right(starts, pos) - 1
        if k >= 0 and inside[k][0] <= pos < inside[k][1]:
            continue
        if match.group() == ".":
            word = _ABBREVIATION_BEFORE.search(text[:pos])
            if word and word.group(1) in ABBREVIATIONS:
                continue
        ends.append(match.end())
    return ends


class _Sentences:
    def __init__(self, text: str, spans: Sequence[Span]):
        self.ends = sentence_bounds(text, spans)

    def of(self, pos: int) -> int:
        return bisect.bisect_right(self.ends, pos)


# How firmly a post attaches to a name; a post goes to the firmest claim, then the nearest name.
TIGHT, APPOSITION, CHAINED, LOOSE = 4, 3, 2, 1


def _holds(text: str, spans: Sequence[Span], sentence: _Sentences) -> list[Relation]:
    claims: dict[Span, tuple[int, int, Span]] = {}  # post -> (strength, -distance, name)

    def claim(post: Span, name: Span, strength: int) -> None:
        distance = post.start - name.end if post.start >= name.end else name.start - post.end
        key = (strength, -distance, name)
        if post not in claims or key[:2] > claims[post][:2]:
            claims[post] = key

    def gap(a: Span, b: Span) -> str:
        return text[a.end:b.start]

    def same(a: Span, b: Span) -> bool:
        return sentence.of(a.start) == sentence.of(b.end - 1)

    for i, name in enumerate(spans):
        if name.label != "OFFICIAL":
            continue
        j = i - 1
        if j >= 0 and spans[j].label == "POSITION" and same(spans[j], name):
            between = gap(spans[j], name)
            strength = TIGHT if _TIGHT_BEFORE.fullmatch(between) else LOOSE if _LOOSE_BEFORE.fullmatch(between) else 0
            while strength and j >= 0:
                claim(spans[j], name, strength)
                if not (j > 0 and spans[j - 1].label == "POSITION" and _CHAIN.fullmatch(gap(spans[j - 1], spans[j]))
                        and same(spans[j - 1], spans[j])):
                    break
                strength = min(strength, CHAINED)
                j -= 1
        j = i + 1
        if j < len(spans) and spans[j].label == "POSITION" and same(name, spans[j]):
            if _AFTER.fullmatch(gap(name, spans[j])):
                strength = APPOSITION
                while j < len(spans):
                    claim(spans[j], name, strength)
                    if not (j + 1 < len(spans) and spans[j + 1].label == "POSITION"
                            and _CHAIN.fullmatch(gap(spans[j], spans[j + 1])) and same(spans[j], spans[j + 1])):
                        break
                    strength = CHAINED
                    j += 1
    return [Relation((name.start, name.end), (post.start, post.end), HOLDS) for post, (_, _, name) in claims.items()]


def _is_period(text: str, date: Span, sentence_start: int) -> bool:
    before = text[sentence_start:date.start]
    if not _PERIOD_FORM.search(text[date.start:date.end]) or _COMPARISON.search(before) or _EVENT.search(before):
        return False
    if _DAY.search(text[date.start:date.end].strip()):
        return bool(_CUT_OFF.search(before))
    return True


def _parenthesis(text: str, pos: int, start: int, end: int) -> tuple[int, int] | None:
    """The ``(...)`` around ``pos`` within ``[start, end)``, or None."""
    opening = text.rfind("(", start, pos)
    if opening < 0 or ")" in text[opening:pos]:
        return None
    closing = text.find(")", pos, end)
    return (opening, closing + 1) if closing >= 0 else None


def _periods(text: str, spans: Sequence[Span], sentence: _Sentences, value_labels: set[str]) -> list[Relation]:
    bounds = list(zip([0] + sentence.ends, sentence.ends + [len(text)], strict=True))
    periods: dict[int, list[Span]] = {}
    for span in spans:
        if span.label == "DATE":
            index = sentence.of(span.start)
            if _is_period(text, span, bounds[index][0]):
                periods.setdefault(index, []).append(span)
    values = [
        value for value in spans
        if value.label in value_labels and parse_value(text[value.start:value.end], value.label).number is not None
    ]  # a value states a number ("Chỉ thị 40-CT/TW" tagged FIGURE is none)
    owned = {}  # a period right after a value is that value's own ("28,1% năm 2011", "1,8 lần vào năm 2020")
    for value in values:
        after = [p for p in periods.get(sentence.of(value.start), []) if p.start >= value.end]
        if after and _ATTACHED.fullmatch(text[value.end:after[0].start]):
            owned[value] = after[0]
    taken = set(owned.values())
    relations = []
    for value in values:
        index = sentence.of(value.start)
        start = bounds[index][0]
        candidates = [p for p in periods.get(index, []) if p not in taken and _reachable(text, p, value, bounds[index])]
        before = [p for p in candidates if p.end <= value.start]
        after = [p for p in candidates if p.start >= value.end]
        if value in owned:
            chosen: Span | None = owned[value]
        elif before:
            chosen = before[-1]
        else:  # the nearest after, unless "hiện nay ..." or "... trong năm nay" is the value's time
            chosen = after[0] if after and not _DEICTIC.search(text[start:after[0].start]) else None
        if chosen:
            relations.append(Relation((value.start, value.end), (chosen.start, chosen.end), PERIOD))
    return relations


def _reachable(text: str, period: Span, value: Span, bound: tuple[int, int]) -> bool:
    """A period inside parentheses is the period of values inside them only."""
    inside = _parenthesis(text, period.start, *bound)
    return inside is None or inside[0] <= value.start < inside[1]


def rule_relations(text: str, spans: Iterable[Span], schema: LabelSchema) -> list[Relation]:
    """HOLDS and PERIOD links among ``spans`` of ``text`` (offsets into ``text`` as given), sorted.

    Only relation types of ``schema`` are produced, and only between labels it allows.
    """
    normalized, offsets = normalize(text)
    back: dict[tuple[int, int], tuple[int, int]] = {}
    moved: list[Span] = []
    for span in sorted(set(spans)):
        start, end = offsets.to_normalized(span.start, span.end)
        if start < end:
            back[(start, end)] = (span.start, span.end)
            moved.append(Span(start, end, span.label))
    sentence = _Sentences(normalized, moved)
    found: list[Relation] = []
    holds, period = schema.relation(HOLDS), schema.relation(PERIOD)
    if holds and holds.allows("OFFICIAL", "POSITION"):
        found += _holds(normalized, moved, sentence)
    if period and "DATE" in period.tails:
        found += _periods(normalized, moved, sentence, set(period.heads))
    return sorted(Relation(back[r.head], back[r.tail], r.type) for r in found)
