"""Normalized values of FIGURE and TARGET surfaces: number, unit, qualifier, plan base, indicator.

Vietnamese writes ``.`` between thousands and ``,`` before decimals: ``6.325`` is 6325,
``25,2`` is 25.2, ``1.351`` is 1351. Scale words multiply (``1,5 triệu`` is 1 500 000, so
``164,5 tỷ đồng`` is 164 500 000 000 in the unit ``đồng``). Ranges (``8,3-8,5%``,
``5.000 người đến 8.000 người``) give ``number`` and ``upper``; a share written ``x/y``
(``19,43/19,43km``, ``58/79 phiếu``) gives ``number`` x and ``total`` y. Numbers that are parts
of dates, identifiers or times of day (``quý I-2023``, ``năm 2020``, ``10-NQ/TU``, ``19h``) are
not the value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

# Qualifiers: words before the number, and after it, with the comparison they state.
QUALIFIERS_BEFORE = {
    "hơn": ">", "trên": ">", "khoảng trên": ">", "vượt": ">", "cao hơn": ">",
    "gần": "≈", "khoảng": "≈", "khoảng gần": "≈", "xấp xỉ": "≈", "gần như": "≈", "chừng": "≈",
    "ít nhất": "≥", "tối thiểu": "≥", "không thấp hơn": "≥", "không dưới": "≥", "từ": "≥",
    "dưới": "<", "chưa đến": "<", "chưa tới": "<", "thấp hơn": "<",
    "tối đa": "≤", "không quá": "≤", "tối đa không quá": "≤", "không vượt quá": "≤",
}
QUALIFIERS_AFTER = {"trở lên": "≥", "trở xuống": "≤"}
# Plan/period bases after the number, each with the name it is reported under.
BASES = {
    "kh": "kế hoạch", "kế hoạch": "kế hoạch", "chỉ tiêu kế hoạch": "kế hoạch",
    "ck": "cùng kỳ", "cùng kỳ": "cùng kỳ",
    "dự toán": "dự toán",
}
SCALES = {"trăm": 100, "nghìn": 1000, "ngàn": 1000, "triệu": 10**6, "tỷ": 10**9, "tỉ": 10**9}
NUMBER_WORDS = {
    "một": 1, "hai": 2, "ba": 3, "bốn": 4, "năm": 5, "sáu": 6, "bảy": 7, "tám": 8, "chín": 9, "mười": 10,
    "chục": 10, "nửa": 0.5,
}
# Words that end an indicator without being part of it ("thu nhập ... đạt 69 triệu").
LINKING_WORDS = ("phấn đấu đạt", "đạt mức", "ở mức", "đạt", "là", "còn", ":")

_NUM = r"\d+(?:[.,]\d+)*"
_NUMBER = re.compile(_NUM)
_SCALE = re.compile(r"\s*(" + "|".join(sorted(SCALES, key=len, reverse=True)) + r")(?![^\W\d_])", re.I)
# Numbers that belong to a date, an ordinal or an identifier, told by what comes before them:
# a year after "năm", a day/month/quarter after its keyword, anything after "ngày 3-" or "quý I-".
_DATE_BEFORE = {
    r"\d{4}": re.compile(r"\b(?:năm|giai đoạn|nhiệm kỳ)\s*$", re.I),
    r"\d{1,2}": re.compile(r"\b(?:ngày|tháng|quý|khóa|khoá|lần thứ|thứ)\s*$", re.I),
    r"\d+": re.compile(
        r"\b(?:ngày|tháng|quý|năm|giai đoạn|nhiệm kỳ)\s*[\dIVX]+\s*[-–/.]\s*(?:\d+\s*[-–/.]\s*)*$", re.I
    ),
}
_RANGE = re.compile(r"\s*(?:-|–|—|~|đến|tới)\s*")
_FRACTION = re.compile(r"\s*/\s*(" + _NUM + r")(?![.,]?\d)")


@dataclass(frozen=True)
class Value:
    """What a FIGURE or TARGET states. ``number`` is None when the surface holds no value."""

    number: int | float | None
    upper: int | float | None = None
    total: int | float | None = None
    unit: str | None = None
    qualifier: str | None = None
    base: str | None = None
    indicator: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _plain(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


def parse_number(digits: str) -> Decimal:
    """A Vietnamese-written number: ``.`` groups thousands, ``,`` starts decimals (``1.234,5``).

    A lone ``.`` before a group that is not three digits (``2.5``) and the English ``1,234.5``
    are read as written; several commas before three-digit groups (``1,234,567``) group thousands.
    """
    if not re.fullmatch(_NUM, digits):
        raise ValueError(f"not a number: {digits!r}")
    if "." in digits and "," in digits:
        decimal_mark = "," if digits.rfind(",") > digits.rfind(".") else "."
    elif "." in digits:
        groups = digits.split(".")
        decimal_mark = "" if all(len(g) == 3 for g in groups[1:]) else "."
    elif "," in digits:
        groups = digits.split(",")
        decimal_mark = "" if len(groups) > 2 and all(len(g) == 3 for g in groups[1:]) else ","
    else:
        decimal_mark = ""
    whole, _, fraction = digits.rpartition(decimal_mark) if decimal_mark else (digits, "", "")
    whole = re.sub(r"[.,]", "", whole)
    if len(whole) > 1000 or len(fraction) > 1000:
        raise ValueError("number too long")
    return Decimal(f"{whole}.{fraction}" if fraction else whole)


def _clean(text: str) -> str:
    text = re.sub(r"\s*/\s*", "/", text)
    return re.sub(r"\s+", " ", text).strip(" ,;:-–—()\"“”")


def _first_number(surface: str) -> tuple[Decimal, int, int] | None:
    """The value's number and its extent: the first digits that are not a date or identifier part,
    else a spelled-out number word followed by a word."""
    for match in _NUMBER.finditer(surface):
        before, after = surface[:match.start()], surface[match.end():]
        if any(re.fullmatch(digits, match.group()) and after_keyword.search(before)
               for digits, after_keyword in _DATE_BEFORE.items()):
            continue
        if re.match(r"\s*[-–/]\s*(?:[A-ZĐ]{2,}|\d+\s*/)", after):  # "10-NQ/TU", "15/2023/NĐ-CP": identifiers
            continue
        if re.match(r"h(?:\d{1,2})?(?![^\W\d_])", after) or re.search(r"\d{1,2}h$", before):
            continue  # "19h", "7h30": a time of day, never a value
        return parse_number(match.group()), match.start(), match.end()
    words = list(re.finditer(r"[^\W\d_]+", surface))
    for i, word in enumerate(words):
        key = word.group().lower()
        if key in NUMBER_WORDS and i + 1 < len(words) and not (key == "năm" and i > 0):
            following = surface[word.end():words[i + 1].start()]
            if following.strip():
                continue
            if key == "một" and words[i + 1].group().lower() in ("số", "cách", "lần", "khi"):
                continue
            return Decimal(str(NUMBER_WORDS[key])), word.start(), word.end()
    return None


def _units_between(after: str) -> list[str]:
    """What may stand between the two numbers of a range: nothing, "%", or a unit of one or two words."""
    found = [""]
    if match := re.match(r"\s*%", after):
        found.append(match.group())
    for words in (1, 2):
        if match := re.match(r"(?:\s+[^\W\d_]+){%d}" % words, after):
            found.append(match.group())
    return found


def _scaled(surface: str, number: Decimal, end: int) -> tuple[Decimal, int]:
    """``number`` times the scale words right after it ("1,5 triệu tỷ"), and where they end."""
    while match := _SCALE.match(surface, end):
        number *= SCALES[match.group(1).lower()]
        end = match.end()
    return number, end


def _ends_with(text: str, phrases: dict[str, str]) -> tuple[str, str] | None:
    """The longest phrase of ``phrases`` that ends ``text`` as whole words: (phrase, its meaning)."""
    lowered = text.lower().rstrip()
    for phrase in sorted(phrases, key=len, reverse=True):
        if lowered.endswith(phrase) and (len(lowered) == len(phrase) or not lowered[-len(phrase) - 1].isalnum()):
            return phrase, phrases[phrase]
    return None


def _tail_parts(rest: str) -> tuple[str, str | None, str | None]:
    """Split what follows the number into (unit text, base, trailing qualifier)."""
    qualifier = None
    found = _ends_with(rest, QUALIFIERS_AFTER)
    if found:
        rest, qualifier = rest.rstrip()[: -len(found[0])], found[1]
    base = None
    words = rest.lower()
    for phrase in sorted(BASES, key=len, reverse=True):
        match = re.search(rf"(?<![^\W_]){re.escape(phrase)}(?![^\W_])", words)
        if match:
            base = BASES[phrase]
            rest = rest[: match.start()]
            break
    return rest, base, qualifier


def parse_value(surface: str, label: str = "FIGURE") -> Value:
    """The normalized value of a FIGURE or TARGET ``surface``; a TARGET also gets its indicator."""
    surface = unicodedata.normalize("NFC", surface)
    first = _first_number(surface)
    if first is None:
        return Value(number=None, indicator=_clean(surface) or None if label == "TARGET" else None)
    number, start, end = first
    number, end = _scaled(surface, number, end)
    upper = total = None
    if fraction := _FRACTION.match(surface, end):
        total, end = _scaled(surface, parse_number(fraction.group(1)), fraction.end())
    else:
        # a range, with the unit or "%" said once or twice: "8,3-8,5%", "8,3% - 8,5%", "5.000 người đến 8.000 người"
        for between in _units_between(surface[end:]):
            connector = _RANGE.match(surface, end + len(between))
            second = _NUMBER.match(surface, connector.end()) if connector else None
            unit = between.strip()
            if second is None or unit not in ("", "%") and not surface[second.end():].lstrip().startswith(unit):
                continue
            lower_end = end
            upper_digits = parse_number(second.group())
            upper, end = _scaled(surface, upper_digits, second.end())
            if upper_digits and first[2] == lower_end:  # "150-300 triệu": the scale said once, after both
                number *= upper / upper_digits
            break
    rest, base, qualifier_after = _tail_parts(surface[end:])
    unit = _clean(rest)
    remainder = ""
    if unit.startswith("%"):
        unit, remainder = "%", _clean(unit[1:])
    before = surface[:start]
    qualifier = None
    if found := _ends_with(before, QUALIFIERS_BEFORE):
        before, qualifier = before.rstrip()[: -len(found[0])], found[1]
    indicator = None
    if label == "TARGET":
        while found := _ends_with(before, {w: w for w in LINKING_WORDS}):
            before = before.rstrip()[: -len(found[0])]
        indicator = _clean(before) or remainder or None
    if upper is not None and qualifier == "≥" and found and found[0] == "từ":  # "từ 5 đến 10": a range
        qualifier = None
    return Value(
        number=_plain(number),
        upper=_plain(upper) if upper is not None else None,
        total=_plain(total) if total is not None else None,
        unit=unit or None,
        qualifier=qualifier_after or qualifier,
        base=base,
        indicator=indicator,
    )
