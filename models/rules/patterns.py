"""Number and date patterns: FIGURE and DATE candidates found by regular expressions."""

from __future__ import annotations

import re

from corpus.text import WORD
from models.rules.candidates import Candidate
from models.rules.folding import fold
from models.rules.lexicon import Gazetteer, WordLists

_SP = r"[^\S\n]+"  # spaces, never a line break
_SP0 = r"[^\S\n]*"
_NUM = r"\d+(?:[.,]\d+)*"
_DAY = r"(?:3[01]|[12]\d|0?[1-9])"
_MONTH = r"(?:1[0-2]|0?[1-9])"
_YEAR = r"(?:19|20)\d\d"
_QUARTER = r"(?:IV|I{1,3}|[1-4])"
_DASH = r"[-–—]"

# A word right before a number that makes it an ordinal, an identifier or part of a date or name.
_NOT_FIGURE_AFTER = {
    "thứ",
    "số",
    "khóa",
    "điều",
    "khoản",
    "mục",
    "chương",
    "kỳ",
    "ngày",
    "tháng",
    "quý",
    "năm",
    "đoạn",
    "tổ",
    "phường",
    "quận",
    "thôn",
    "lộ",
    "lúc",
    "đợt",
    "hiệu",
    "mã",
    "phòng",
}
# Words before a bare day/month ("Sáng 14/6", "từ 1-7").
_TIME_WORDS = {"sáng", "chiều", "tối", "trưa", "đêm", "hôm", "từ", "vào", "đến", "tới", "khuya", "(", "qua", "nay"}
# A law's name before its year: "Luật Hợp tác xã năm 2012" is not a DATE.
_LAW_BEFORE = re.compile(r"(?:Luật|Hiến pháp|Bộ luật)\b[^,.;:()]{0,40}$")
# Words before a bare year ("đến 2025", "tầm nhìn 2030").
_YEAR_WORDS = {"đến", "tới", "từ", "nhìn"}


class NumberDateRules:
    """FIGURE and DATE candidates by regular expressions built from the word lists."""

    def __init__(self, words: WordLists):
        self.words = words
        self.figure_re = self._figure_pattern(words.lists)
        self.date_res = self._date_patterns()

    @staticmethod
    def _figure_pattern(lists: dict[str, Gazetteer]) -> re.Pattern:
        measure = Gazetteer(
            list(lists["units"].entries.values()) + list(lists["counters"].entries.values())
        ).alternation()
        mults, approx = lists["multipliers"].alternation(), lists["approximators"].alternation()
        bases, words = lists["figure_bases"].alternation(), lists["number_words"].alternation()
        number = rf"{_NUM}(?:/{_NUM})?(?:{_SP0}{_DASH}{_SP0}{_NUM})?"
        return re.compile(
            rf"""(?<![\w.,/%-])
            (?:(?P<approx>{approx}){_SP})?
            (?:(?P<num>{number})|(?P<word>{words})(?={_SP}))
            (?:{_SP0}(?P<mult>{mults})(?:{_SP}(?:{mults}))*(?![\w²]))?
            (?:{_SP0}(?P<unit>{measure})(?![\w²]))?
            (?:{_SP0}/{_SP0}(?:\d+{_SP0})?(?:{measure})(?![\w²]))*
            (?:{_SP}(?P<base>{bases})(?!\w)(?!{_SP}{_YEAR})){{0,2}}""",
            re.VERBOSE | re.IGNORECASE,
        )

    def figures(self, text: str) -> list[Candidate]:
        found = []
        for m in self.figure_re.finditer(text):
            unit, mult, word = m.group("unit"), m.group("mult"), m.group("word")
            if not (unit or mult) or (word and not unit):
                continue
            start = m.start("num") if m.group("num") else m.start("word")
            before = re.findall(r"\w+", text[max(0, start - 30) : start])
            if not m.group("approx") and before and fold(before[-1]) in _NOT_FIGURE_AFTER:
                if not (len(before) > 1 and before[-1][0].isupper() and before[-2][0].isupper()):
                    continue  # lần thứ 15, số 10, năm 2018, quận 2; but "TP Tam Kỳ 210 tỷ đồng"
            after = text[m.end() : m.end() + 12]
            unit_key = tuple(fold(w) for w in WORD.findall(unit or ""))
            if unit_key == ("giờ",) and re.match(rf"{_SP0}\d|{_SP}(?:sáng|chiều|tối|trưa|đêm|ngày)", after):
                continue  # time of day: "14 giờ 30", "6 giờ sáng"
            if m.group("num") and re.match(r"[/-]\w", text[m.end("num") : m.end("num") + 2]) and not unit:
                continue
            if word:
                rule = "fig_word"
            elif unit and unit.strip() == "%":
                rule = "fig_percent"
            elif mult or unit_key in self.words.unit_keys:
                rule = "fig_unit"
            else:
                rule = "fig_counter"
            found.append(Candidate(m.start(), m.end(), "FIGURE", rule))
        return found

    @staticmethod
    def _date_patterns() -> list[tuple[str, re.Pattern]]:
        def kw(words: str) -> str:  # a keyword, capitalised or not; its words joined by spaces
            first, *rest = words.split()
            return _SP.join([f"[{first[0].upper()}{first[0]}]{first[1:]}", *rest])

        edge = rf"(?:(?:{kw('đầu')}|{kw('cuối')}|{kw('giữa')}|{kw('nửa đầu')}|{kw('nửa cuối')}){_SP})?"
        numbers = "|".join(kw(w) for w in ("hai", "ba", "bốn", "sáu", "bảy", "tám", "chín", "mười"))
        month_year = rf"(?:{_SP0}[/-]{_SP0}{_YEAR}|{_SP}năm{_SP}{_YEAR})"
        year_range = rf"(?:{_SP0}{_DASH}{_SP0}{_YEAR})?"
        period = "|".join(kw(w) for w in ("giai đoạn", "nhiệm kỳ", "thời kỳ", "năm học", "niên khóa", "niên khoá"))
        patterns = [
            # ngày 31/8, Ngày 3-4, ngày 1-7-2018, ngày 19.12.2016, ngày 27 tháng 6 năm 1961, ngày 8 đến 11/12
            (
                "date_day",
                rf"{kw('ngày')}{_SP}(?:{_DAY}{_SP0}(?:đến|và|-|–){_SP0})?{_DAY}"
                rf"(?:[/.-]{_MONTH}(?:[/.-]{_YEAR})?|{_SP}tháng{_SP}{_MONTH}(?:{_SP}năm{_SP}{_YEAR})?)(?![\d/-]|\.\d)",
            ),
            # 24/2/2019, 31-12-2016
            ("date_dmy", rf"(?<![\w/.,-]){_DAY}[/-]{_MONTH}[/-]{_YEAR}(?![\d/-])"),
            # (Sáng) 14/6, (từ) 1-7, (từ) 11 đến 13/12: a bare day/month after a time word
            ("date_dm", rf"(?<![\w/.,-])(?:{_DAY}{_SP0}(?:đến|-|–){_SP0})?{_DAY}[/-]{_MONTH}(?![\w/-]|[.,]\d|{_SP0}%)"),
            # tháng 9/2023, đầu tháng 7/2017, tháng 6 năm 2017, tháng 7.2017, tháng 7
            ("date_month", rf"{edge}{kw('tháng')}{_SP}{_MONTH}(?:{month_year}|\.{_YEAR})?(?![\w/-]|[.,]\d)"),
            # quý I-2023, quý II/2023, quý I năm 2019, quý IV 2017, quý 1
            ("date_quarter", rf"{kw('quý')}{_SP}{_QUARTER}(?:{month_year}|{_SP}{_YEAR})?(?![\w/-]|[.,]\d)"),
            # 6 tháng đầu năm (nay|2017), sáu tháng đầu năm, những tháng cuối năm 2017, 9 tháng năm 2018
            (
                "date_months",
                rf"(?:\d+|{numbers}|{kw('những')}|{kw('các')}){_SP}tháng{_SP}(?:(?:đầu|cuối){_SP}năm"
                rf"(?:{_SP}(?:nay|{_YEAR}))?|năm{_SP}{_YEAR})(?!\w)",
            ),
            # năm 2024, cuối năm 2015, nửa đầu năm 2017, Năm 2016, năm 2016-2020, những năm 1960, Cuối 2017
            ("date_year", rf"{edge}{kw('năm')}{_SP}{_YEAR}{year_range}(?![\w/-]|[.,]\d)"),
            ("date_year", rf"{kw('những')}{_SP}năm{_SP}{_YEAR}(?![\w/-]|[.,]\d)"),
            ("date_year", rf"{kw('cuối')}{_SP}{_YEAR}(?![\w/-]|[.,]\d)"),
            # (đến|từ|tầm nhìn) 2030: a bare year after a word that takes a time
            ("date_bare_year", rf"(?<![\w/.,-]){_YEAR}(?:{_SP0}{_DASH}{_SP0}{_YEAR})?(?![\w/-]|[.,]\d)"),
            # giai đoạn 2021-2025, nhiệm kỳ 2020 - 2025, giai đoạn 2016 đến 2020, năm học 2017-2018, (2016-2021)
            ("date_period", rf"(?:{period}){_SP0}{_YEAR}(?:{_SP0}(?:{_DASH}|đến){_SP0}{_YEAR})?(?![\w/-]|[.,]\d)"),
            ("date_period", rf"(?<=\(){_YEAR}{_SP0}{_DASH}{_SP0}{_YEAR}(?=\))"),
        ]
        return [(name, re.compile(p)) for name, p in patterns]

    def dates(self, text: str) -> list[Candidate]:
        found = []
        for rule, pattern in self.date_res:
            for m in pattern.finditer(text):
                start, end = m.span()
                if rule in ("date_dm", "date_bare_year"):
                    before = re.findall(r"\w+|\(", text[max(0, start - 12) : start])
                    words = _TIME_WORDS if rule == "date_dm" else _YEAR_WORDS
                    if not before or fold(before[-1]) not in words:
                        continue
                if rule == "date_month" and re.search(r"\d\s*$", text[max(0, start - 4) : start]):
                    continue  # "6 tháng 9": a count of months
                if rule == "date_year" and _LAW_BEFORE.search(text[max(0, start - 50) : start]):
                    continue  # "Luật Hợp tác xã năm 2012" names a law
                found.append(Candidate(start, end, "DATE", rule))
        return found
