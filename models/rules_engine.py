"""The rules engine: a pre-annotator built from patterns and word lists, usable before any model.

``load_model("rules")`` returns a :class:`RulesModel`; it needs no model directory. Its word
lists live in ``models/data/rules/*.txt`` (one entry a line, ``#`` comments; see the README
there), so they can grow without touching this code. Entries match syllable by syllable on a
folded key (lower case, new-style tone marks): ``Uỷ ban`` and ``Ủy ban`` are one entry.

What it finds (labels of ``annotation-spec.md``):

- FIGURE and DATE by regular expressions. FIGURE: a Vietnamese number (``6.325``, ``25,2``,
  ``19,43/19,43``, ranges ``30-50``) or a spelled-out one before a counted noun (``hai ngày``),
  an approximator before it (``hơn``, ``gần``), a multiplier, unit or counted noun after it
  (``tỷ đồng``, ``ha``, ``hộ dân``), rates (``tạ/ha``) and a plan base (``% KH``,
  ``% kế hoạch``, ``trở lên``). DATE: ``ngày 31/8``, ``Ngày 3-4``, ``quý I-2023``,
  ``tháng 9/2023``, ``năm 2024``, ``6 tháng đầu năm``, ``giai đoạn 2021-2025``,
  ``nhiệm kỳ 2020-2025``, and a bare day/month after a time word ("Sáng 14/6" -> ``14/6``).
  Ordinals (``lần thứ 15``), identifiers (``số 10-NQ/TU``), times of day and numbers right
  after a date keyword are not FIGURE.
- UNIT: a body (``UBND``, ``Huyện ủy``), a head with its field (``Sở`` + ``Tài chính``) or a
  named organisation (``Công ty`` + capitalised name), with the bodies directly after it
  (``Ban Thường vụ`` + ``Huyện ủy``) and a locality (``huyện Hậu Lộc``, ``TP. HCM``, a known
  place, or capitalised syllables); not in generic mentions ("UBND các xã", "HĐND cấp huyện").
  An organisation's acronym ("Tập đoàn FLC", "... (PVN)") is marked again where it recurs.
- POSITION: a title (``Phó Bí thư``) with its qualifier (``Thường trực``), field, body and
  locality (``Chủ tịch UBND huyện Hậu Lộc``). Not after a plural (``các đồng chí``) nor before
  one (``Trưởng các phòng``); a lower-case title only with a body after it.
- LOCATION: a type word + proper name (``xã Kim Song Trường``, ``quận 2``,
  ``Cụm công nghiệp Liên Hoa``), known places (provinces, countries, regions), each name of
  "các xã A, B và C", and bare repeats of names first seen after a type word.
- OFFICIAL: capitalised syllables after an honorific (``ông``, ``đồng chí``), right after a
  POSITION, next to one (", POSITION", "POSITION, "), or listed with a found name; full names
  so found are marked again where they recur. A locality run is split before a family name
  (``surnames.txt``): "Bí thư Huyện ủy Can Lộc | Nghiêm Sỹ Đống".

Overlaps are resolved longest first (a POSITION holding a body beats the UNIT inside it;
a UNIT beats the LOCATION inside it). Every span carries the fixed confidence of the rule
that made it (``confidence.txt``: precision measured on the training gold). TARGET is not
produced: telling a planned value from a reported one needs more than patterns.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.document import Span
from corpus.schema import LabelSchema, load_schema
from models.base import NerModel

ENGINE = "rules"
DATA_DIR = Path(__file__).resolve().parent / "data" / "rules"
DEFAULT_CONFIDENCE = 0.5

# Syllables, numbers (with their separators) and single symbols, as in the other engines.
_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+|\S")

# Labels in the order they win a tie between two candidates of the same length.
_PRIORITY = ("POSITION", "UNIT", "DATE", "FIGURE", "OFFICIAL", "LOCATION")

# ---------------------------------------------------------------------------------------------
# Tone marks: "hoà"/"hòa" and "uỷ"/"ủy" are the same word

_TONES = "\u0300\u0301\u0303\u0309\u0323"  # grave, acute, tilde, hook above, dot below
_OLD = re.compile(f"(?<![qQ])([oO][aAeE]|[uU][yY])([{_TONES}])$")
_NEW = re.compile(f"(?<![qQ])([oOuU])([{_TONES}])([aAeEyY])$")


def new_style(word: str) -> str:
    """A syllable with the tone of open "oa"/"oe"/"uy" on the first vowel ("hoà" -> "hòa")."""
    decomposed = unicodedata.normalize("NFD", word)
    match = _OLD.search(decomposed)
    if match:
        pair, tone = match.group(1), match.group(2)
        decomposed = decomposed[: match.start()] + pair[0] + tone + pair[1]
    return unicodedata.normalize("NFC", decomposed)


def old_style(word: str) -> str:
    """A syllable with the tone of open "oa"/"oe"/"uy" on the second vowel ("hòa" -> "hoà")."""
    decomposed = unicodedata.normalize("NFD", word)
    match = _NEW.search(decomposed)
    if match and (match.group(1) in "oO") == (match.group(3) in "aAeE"):
        decomposed = decomposed[: match.start()] + match.group(1) + match.group(3) + match.group(2)
    return unicodedata.normalize("NFC", decomposed)


def fold(word: str) -> str:
    """The matching key of a syllable: NFC, lower case, new-style tone marks."""
    return new_style(unicodedata.normalize("NFC", word).lower())


def _restyle(text: str, style) -> str:
    return re.sub(r"\w+", lambda m: style(m.group()), text)


# ---------------------------------------------------------------------------------------------
# Word lists


def read_list(name: str, data_dir: Path = DATA_DIR) -> list[tuple[str, frozenset[str]]]:
    """Entries of a list file with their flags (``entry | flag flag``); comments and blanks dropped."""
    entries = []
    for line in (data_dir / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.split(" #", 1)[0].strip()
        entry, _, flags = line.partition(" | ")
        entries.append((unicodedata.normalize("NFC", entry.strip()), frozenset(flags.split())))
    return entries


def read_confidences(data_dir: Path = DATA_DIR) -> dict[str, float]:
    """``rule -> score`` from ``confidence.txt`` (lines ``rule score``)."""
    scores = {}
    for entry, _ in read_list("confidence.txt", data_dir):
        rule, value = entry.split()
        scores[rule] = float(value)
    return scores


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int
    key: str
    space_before: bool

    @property
    def is_cap(self) -> bool:
        """A capitalised word: "Hậu", "HCM" (not a number or a symbol)."""
        return self.text[0].isupper() and self.text.isalpha()

    @property
    def is_title_case(self) -> bool:
        """A capitalised syllable with a lower-case rest: "Hậu" (not "HCM")."""
        return self.is_cap and (len(self.text) == 1 or self.text[1:].islower())

    @property
    def is_number(self) -> bool:
        return self.text[0].isdigit()

    @property
    def is_upper_initial(self) -> bool:
        return self.text[0].isupper()


def text_of(toks: list[Token], i: int, j: int) -> str:
    """The words of tokens ``i:j`` joined by single spaces."""
    return " ".join(t.text for t in toks[i:j])


def tokenize(text: str) -> list[list[Token]]:
    """Tokens of each line of ``text``: entities never cross a line break."""
    lines = []
    for line in re.finditer(r"[^\n]+", text):
        toks: list[Token] = []
        previous_end = -1
        for match in _WORD.finditer(line.group()):
            start, end = match.start() + line.start(), match.end() + line.start()
            toks.append(Token(match.group(), start, end, fold(match.group()), previous_end != start))
            previous_end = end
        if toks:
            lines.append(toks)
    return lines


class Gazetteer:
    """Entries of one or more syllables, matched on folded keys; the longest match wins."""

    def __init__(self, entries: Iterable[tuple[str, frozenset[str]]]):
        self.entries: dict[tuple[str, ...], tuple[str, frozenset[str]]] = {}
        for text, flags in entries:
            key = tuple(fold(w) for w in _WORD.findall(text))
            if key:  # "lower": the entry is written with a lower-case initial
                self.entries[key] = (text, flags | ({"lower"} if text[0].islower() else set()))
        self.lengths = sorted({len(k) for k in self.entries}, reverse=True)
        self.firsts = {k[0] for k in self.entries}

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def match(self, toks: list[Token], i: int) -> tuple[int, frozenset[str]] | None:
        """``(end token index, flags)`` of the longest entry starting at token ``i``."""
        if i >= len(toks) or toks[i].key not in self.firsts:
            return None
        for length in self.lengths:
            if i + length <= len(toks):
                found = self.entries.get(tuple(t.key for t in toks[i:i + length]))
                if found is not None:
                    return i + length, found[1]
        return None

    def alternation(self) -> str:
        """A regex for any entry in either tone style, longest first; a space matches any spaces."""
        forms = set()
        for text, _ in self.entries.values():
            forms |= {text, _restyle(text, new_style), _restyle(text, old_style)}
        ordered = sorted(forms, key=len, reverse=True)
        return "|".join(r"[^\S\n]*".join(re.escape(part) for part in form.split()) for form in ordered)


# ---------------------------------------------------------------------------------------------
# Candidates and their resolution


@dataclass(frozen=True)
class Candidate:
    """A proposed entity and the rule that proposed it."""

    start: int
    end: int
    label: str
    rule: str

    def overlaps(self, other: Candidate) -> bool:
        return self.start < other.end and other.start < self.end


def resolve(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Non-overlapping candidates: longest first; ties by label priority, then position."""
    rank = {label: i for i, label in enumerate(_PRIORITY)}
    ordered = sorted(
        set(candidates), key=lambda c: (c.start - c.end, rank.get(c.label, len(rank)), c.start, c.rule)
    )
    kept: list[Candidate] = []
    for cand in ordered:
        if not any(cand.overlaps(k) for k in kept):
            kept.append(cand)
    return sorted(kept, key=lambda c: (c.start, c.end))


_EDGE = set(".,;:!?\"'“”‘’()[]{}…-–—/")


def _strip(text: str, cand: Candidate) -> Candidate | None:
    """The candidate without surrounding spaces and punctuation ("%" may close a FIGURE)."""
    start, end = cand.start, cand.end
    while start < end and (text[start].isspace() or text[start] in _EDGE):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _EDGE):
        end -= 1
    return Candidate(start, end, cand.label, cand.rule) if start < end else None


# ---------------------------------------------------------------------------------------------
# The rules

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
    "thứ", "số", "khóa", "điều", "khoản", "mục", "chương", "kỳ", "ngày", "tháng", "quý", "năm", "đoạn",
    "tổ", "phường", "quận", "thôn", "lộ", "lúc", "đợt", "hiệu", "mã", "phòng",
}
# Words before a bare day/month ("Sáng 14/6", "từ 1-7").
_TIME_WORDS = {"sáng", "chiều", "tối", "trưa", "đêm", "hôm", "từ", "vào", "đến", "tới", "khuya", "(", "qua", "nay"}
# An abbreviation in brackets right after a UNIT: "Tập đoàn Dầu khí Việt Nam (PVN)".
_ABBREVIATION_AFTER = re.compile(r"[^\S\n]*\(([A-ZĐ][A-ZĐ0-9&]{1,11})\)")
# A law's name before its year: "Luật Hợp tác xã năm 2012" is not a DATE.
_LAW_BEFORE = re.compile(r"(?:Luật|Hiến pháp|Bộ luật)\b[^,.;:()]{0,40}$")
# Words before a bare year ("đến 2025", "tầm nhìn 2030").
_YEAR_WORDS = {"đến", "tới", "từ", "nhìn"}
_PLURAL = {"các", "những", "mọi", "nhiều", "mấy", "hai", "ba"}
_PLURAL_PEOPLE = {"đồng", "chí", "ông", "bà", "vị", "anh", "chị"}


@dataclass(frozen=True)
class Place:
    """What follows a body or title: its locality ends at ``end``; a personal name may follow."""

    end: int
    name_start: int
    name_end: int


class Rules:
    """All word lists and patterns, loaded once from ``data_dir``."""

    def __init__(self, data_dir: Path = DATA_DIR):
        self.data_dir = Path(data_dir)
        lists = {name: Gazetteer(read_list(f"{name}.txt", self.data_dir)) for name in (
            "titles", "title_qualifiers", "bodies", "body_heads", "domains", "org_heads", "legal_forms",
            "admin_types", "site_types", "places", "honorifics", "not_names", "units", "counters",
            "multipliers", "number_words", "approximators", "figure_bases",
        )}
        self.titles = lists["titles"]
        self.qualifiers = lists["title_qualifiers"]
        self.bodies = lists["bodies"]
        self.body_heads = lists["body_heads"]
        self.domains = lists["domains"]
        self.org_heads = lists["org_heads"]
        self.legal_forms = lists["legal_forms"]
        self.admin_types = lists["admin_types"]
        self.site_types = lists["site_types"]
        self.places = lists["places"]
        self.honorifics = lists["honorifics"]
        self.not_names = lists["not_names"]
        stops = read_list("name_stops.txt", self.data_dir)
        self.name_stops = Gazetteer(stops)
        self.name_starts = Gazetteer(e for e in stops if "start" in e[1])
        self.surnames = {fold(e) for e, _ in read_list("surnames.txt", self.data_dir)}
        self.site_compounds = {k[-2:] for k, (_, flags) in self.site_types.entries.items() if "not" in flags}
        self.units = {tuple(fold(w) for w in _WORD.findall(e)) for e, _ in read_list("units.txt", self.data_dir)}
        self.confidence = read_confidences(self.data_dir)
        self.figure_re = self._figure_pattern(lists)
        self.date_res = self._date_patterns()

    # -- FIGURE ---------------------------------------------------------------------------

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
            before = re.findall(r"\w+", text[max(0, start - 30):start])
            if not m.group("approx") and before and fold(before[-1]) in _NOT_FIGURE_AFTER:
                if not (len(before) > 1 and before[-1][0].isupper() and before[-2][0].isupper()):
                    continue  # lần thứ 15, số 10, năm 2018, quận 2; but "TP Tam Kỳ 210 tỷ đồng"
            after = text[m.end():m.end() + 12]
            unit_key = tuple(fold(w) for w in _WORD.findall(unit or ""))
            if unit_key == ("giờ",) and re.match(rf"{_SP0}\d|{_SP}(?:sáng|chiều|tối|trưa|đêm|ngày)", after):
                continue  # time of day: "14 giờ 30", "6 giờ sáng"
            if m.group("num") and re.match(r"[/-]\w", text[m.end("num"):m.end("num") + 2]) and not unit:
                continue
            if word:
                rule = "fig_word"
            elif unit and unit.strip() == "%":
                rule = "fig_percent"
            elif mult or unit_key in self.units:
                rule = "fig_unit"
            else:
                rule = "fig_counter"
            found.append(Candidate(m.start(), m.end(), "FIGURE", rule))
        return found

    # -- DATE -----------------------------------------------------------------------------

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
            ("date_day", rf"{kw('ngày')}{_SP}(?:{_DAY}{_SP0}(?:đến|và|-|–){_SP0})?{_DAY}"
                         rf"(?:[/.-]{_MONTH}(?:[/.-]{_YEAR})?|{_SP}tháng{_SP}{_MONTH}(?:{_SP}năm{_SP}{_YEAR})?)(?![\d/-]|\.\d)"),
            # 24/2/2019, 31-12-2016
            ("date_dmy", rf"(?<![\w/.,-]){_DAY}[/-]{_MONTH}[/-]{_YEAR}(?![\d/-])"),
            # (Sáng) 14/6, (từ) 1-7, (từ) 11 đến 13/12: a bare day/month after a time word
            ("date_dm", rf"(?<![\w/.,-])(?:{_DAY}{_SP0}(?:đến|-|–){_SP0})?{_DAY}[/-]{_MONTH}(?![\w/-]|[.,]\d|{_SP0}%)"),
            # tháng 9/2023, đầu tháng 7/2017, tháng 6 năm 2017, tháng 7.2017, tháng 7
            ("date_month", rf"{edge}{kw('tháng')}{_SP}{_MONTH}(?:{month_year}|\.{_YEAR})?(?![\w/-]|[.,]\d)"),
            # quý I-2023, quý II/2023, quý I năm 2019, quý IV 2017, quý 1
            ("date_quarter", rf"{kw('quý')}{_SP}{_QUARTER}(?:{month_year}|{_SP}{_YEAR})?(?![\w/-]|[.,]\d)"),
            # 6 tháng đầu năm (nay|2017), sáu tháng đầu năm, những tháng cuối năm 2017, 9 tháng năm 2018
            ("date_months", rf"(?:\d+|{numbers}|{kw('những')}|{kw('các')}){_SP}tháng{_SP}(?:(?:đầu|cuối){_SP}năm"
                            rf"(?:{_SP}(?:nay|{_YEAR}))?|năm{_SP}{_YEAR})(?!\w)"),
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
                    before = re.findall(r"\w+|\(", text[max(0, start - 12):start])
                    words = _TIME_WORDS if rule == "date_dm" else _YEAR_WORDS
                    if not before or fold(before[-1]) not in words:
                        continue
                if rule == "date_month" and re.search(r"\d\s*$", text[max(0, start - 4):start]):
                    continue  # "6 tháng 9": a count of months
                if rule == "date_year" and _LAW_BEFORE.search(text[max(0, start - 50):start]):
                    continue  # "Luật Hợp tác xã năm 2012" names a law
                found.append(Candidate(start, end, "DATE", rule))
        return found

    # -- capitalised runs and personal names -------------------------------------------------

    def starts_entity(self, toks: list[Token], j: int, honorific: bool = True) -> bool:
        """A capitalised title, body, type word (with a name) or honorific begins at ``j``."""
        if not toks[j].is_upper_initial:
            return False
        if not honorific and self.honorifics.match(toks, j):
            return False  # "Cát Bà": an honorific inside a run is a syllable of the name
        typ = self.admin_types.match(toks, j)
        if typ and typ[0] < len(toks) and (toks[typ[0]].is_cap or toks[typ[0]].is_number):
            return True  # "Quận 2", "Huyện Cần Giờ"; not "Nhật Bản tại"
        return bool(
            self.titles.match(toks, j) or self.bodies.match(toks, j) or self.domain_body(toks, j)
            or (self.org_heads.match(toks, j) and self.org(toks, j)) or self.honorifics.match(toks, j)
        )

    def cap_run(self, toks: list[Token], i: int, *, site: bool = False) -> int:
        """End of the run of capitalised words from ``i`` (hyphen-joined ones too), stopping where a
        title, body, type word or honorific begins. A ``site`` name may start with an honorific
        ("Đền Bà Triệu") and join words around a spaced dash ("cao tốc Bắc - Nam")."""
        j = i
        while j < len(toks):
            tok = toks[j]
            starts = self.starts_entity(toks, j, j == i and not site) or self.name_starts.match(toks, j)
            if tok.is_cap and not starts:
                j += 1
            elif (
                tok.text in "-–" and j > i and j + 1 < len(toks) and toks[j + 1].is_cap
                and (site or not tok.space_before and not toks[j + 1].space_before)
            ):
                j += 1
            else:
                break
        return j

    def is_surname(self, tok: Token) -> bool:
        return tok.is_title_case and tok.key in self.surnames

    @staticmethod
    def name_ok(toks: list[Token], i: int, j: int) -> bool:
        """Tokens ``i:j`` can be a personal name: 1-4 title-case syllables."""
        return 1 <= j - i <= 4 and all(t.is_title_case for t in toks[i:j])

    def split_run(
        self, toks: list[Token], i: int, j: int, *, typed: bool, province: bool, person: bool = False
    ) -> Place:
        """Read the capitalised run ``i:j`` after a body, title or type word as a place (maybe empty)
        followed by a personal name (maybe empty).

        A known place at its start is the place. A run that starts with a family name is a name
        after a provincial type word ("TP Nguyễn Thành Phong"), after a body when it has 3-4
        syllables ("Thủ tướng Chính phủ Nguyễn Xuân Phúc", not "Huyện uỷ Lý Sơn"), and after a
        district-level type word only in a title or body (``person``: "Phó chủ tịch xã Nguyễn
        Hữu Đức", but the LOCATION "xã Lê Lợi"). Otherwise a family name further on starts a name
        of 3-4 syllables ("Can Lộc | Nghiêm Sỹ Đống"; "Nam Từ Liêm" is one place)."""
        place = self.places.match(toks, i)
        if place and place[0] <= j and (typed or "after_type" not in place[1]):
            k = place[0]
            if k == j:
                return Place(k, k, k)
            if self.name_ok(toks, k, j) and (self.is_surname(toks[k]) or j - k >= 2):
                return Place(k, k, j)  # "Quốc hội Lào | Pany Yathotou"
            # else the place is only the start of a longer name: "Nga Sơn" is not "Nga" (Russia)
        if self.is_surname(toks[i]) and self.name_ok(toks, i, j) and j - i >= 2:
            if province or j - i >= 3 and (not typed or person):
                return Place(i, i, j)
        for size in (3, 4):
            k = j - size
            if k > i and self.is_surname(toks[k]) and self.name_ok(toks, k, j):
                return Place(k, k, j)
        return Place(j, j, j)

    def _name_after(self, toks: list[Token], k: int) -> Place:
        """The place ends at ``k``; a personal name of 2-4 syllables may follow it."""
        if k < len(toks) and toks[k].is_title_case:
            run = self.cap_run(toks, k)
            if 2 <= run - k <= 4 and self.name_ok(toks, k, run):
                return Place(k, k, run)
        return Place(k, k, k)

    def _ends_body(self, toks: list[Token], i: int) -> bool:
        """A body ends right before token ``i``."""
        return any(
            i - size >= 0 and (found := self.bodies.match(toks, i - size)) is not None and found[0] == i
            for size in self.bodies.lengths
        )

    def locality(
        self, toks: list[Token], i: int, *, bare: bool, free: bool, person: bool | None = None
    ) -> Place | None:
        """The place after a body or title, from token ``i``.

        ``bare`` allows a type word without a name ("UBND huyện"), as in a title or body;
        ``free`` allows capitalised syllables without a type word ("Huyện ủy Hậu Lộc"), else only
        known places and personal names; ``person`` (default: ``bare``) reads a full name after a
        district-level type word as a person (see :meth:`split_run`)."""
        n = len(toks)
        typ = self.admin_types.match(toks, i)
        if typ and "dot" in typ[1] and not (typ[0] < n and toks[typ[0]].text == "." and toks[i].is_upper_initial):
            typ = None  # "Q. 2", "H. Xuân Lộc" only with their full stop
        if typ:
            j, flags = typ
            type_end = j
            if "long" in flags:  # "nước Cộng hòa Dân chủ Nhân dân Lào"
                end = self.org_name(toks, j) if j < n and toks[j].is_cap else j
                return Place(end, end, end) if end > j else (Place(j, j, j) if bare else None)
            abbreviation = toks[j - 1].is_upper_initial and len(toks[j - 1].text) <= 2  # "TP", "TX", "Q"
            if (
                j + 1 < n and toks[j].text == "." and abbreviation and not toks[j].space_before
                and (toks[j + 1].is_cap or toks[j + 1].is_number)
            ):
                j += 1  # "TP. HCM", "TP.HCM", but not "các tỉnh. Các"
            if j < n and toks[j].is_number and "number" in flags:  # "quận 2"
                after = self._name_after(toks, j + 1)  # "Chủ tịch UBND quận 1 Trần Thế Thuận"
                return after if after.name_end == j + 1 or self.is_surname(toks[j + 1]) else Place(j + 1, j + 1, j + 1)
            place = self.places.match(toks, j)
            if place and toks[j].is_upper_initial and place[0] >= self.cap_run(toks, j):
                return self._name_after(toks, place[0])  # a known place, even "Hải phòng"
            if j < n and toks[j].is_cap:
                run = self.cap_run(toks, j)
                if run > j:
                    person = bare if person is None else person
                    place = self.split_run(toks, j, run, typed=True, province="province" in flags, person=person)
                    if place.end > j:
                        return place
                    return Place(type_end, place.name_start, place.name_end) if bare else None
            return Place(type_end, type_end, type_end) if bare else None
        if i < n and toks[i].is_cap:
            run = self.cap_run(toks, i)
            if run == i:
                return None
            place = self.split_run(toks, i, run, typed=False, province=False)
            if free or (self.places.match(toks, i) and "after_type" not in self.places.match(toks, i)[1]):
                return place
            # after a title only a known place or a personal name: "Thủ tướng Nguyễn Xuân Phúc"
            return Place(i, i, place.name_end) if place.name_start == i < place.name_end else None
        return None

    # -- UNIT and POSITION ----------------------------------------------------------------

    def domain_body(self, toks: list[Token], i: int) -> int | None:
        """End of a head + field ("Sở Tài chính", "sở Kế hoạch và Đầu tư")."""
        head = self.body_heads.match(toks, i)
        if head and head[0] < len(toks) and toks[head[0]].is_upper_initial:
            dom = self.domains.match(toks, head[0])
            if dom:
                return dom[0]
        return None

    def org(self, toks: list[Token], i: int) -> tuple[int, int] | None:
        """``(end, start of its name)`` of a named organisation ("Công ty TNHH Kim Chính")."""
        head = self.org_heads.match(toks, i)
        if not head:
            return None
        j = head[0]
        while (form := self.legal_forms.match(toks, j)) is not None:
            j = form[0]
        start = j
        if "desc" in head[1]:  # "Ban quản lý khu đô thị Thủ Thiêm": lower-case words, then a name
            while j < len(toks) and j - start < 5 and toks[j].text.isalpha() and toks[j].text.islower() and (
                toks[j].key == "và" or not self.name_stops.match(toks, j)
            ):
                j += 1
        if j < len(toks) and toks[j].is_cap:
            end = self.org_name(toks, j)
            if end > j:
                return end, start
        return None

    def org_name(self, toks: list[Token], j: int) -> int:
        """End of an organisation's own name from ``j``: capitalised runs, the lower-case words
        between them ("Dầu khí" in "Tập đoàn Dầu khí Việt Nam"), up to two lower-case words at its
        end when a function word or punctuation follows ("Bệnh viện Ung thư đã"), and a number
        right after it ("Công ty Ánh Tuyết 1")."""
        n, end = len(toks), j
        while end < n:
            if end > j and self.admin_types.match(toks, end):
                break  # the locality after the name: "Cục Hải quan | TP. HCM"
            run = self.cap_run(toks, end)
            if run == end:
                break
            first_part, end = end == j and run - end == 1, run
            if end < n and re.fullmatch(r"\d{1,2}", toks[end].text) and (
                end + 1 == n or not toks[end + 1].text.isalnum()
            ):
                return end + 1  # "Công ty Ánh Tuyết 1"
            k = end
            while k < n and k - end < 4 and toks[k].text.isalpha() and toks[k].text.islower() and (
                toks[k].key == "và" or not self.name_stops.match(toks, k)
            ):
                k += 1
            if k == end:
                break
            if k < n and toks[k].is_cap:
                end = k  # a bridge between two capitalised parts
            elif (
                first_part and k - end <= 2 and toks[k - 1].key != "và"
                and (k == n or not toks[k].text.isalnum() or self.name_stops.match(toks, k))
            ):
                return k  # "Ung thư" in "Bệnh viện Ung thư đã"
            else:
                break
        return end

    def body(self, toks: list[Token], i: int) -> tuple[int, str, int, frozenset[str]] | None:
        """``(end, kind, start of the organisation's own name, flags)`` of one body at ``i``; the
        longest kind. In lower case only a head with its field ("sở Kế hoạch và Đầu tư") or a
        "prefix" body before another body ("thường trực HĐND")."""
        if i >= len(toks):
            return None
        if not toks[i].is_upper_initial:
            if (end := self.domain_body(toks, i)) is not None:
                return end, "domain_lower", end, frozenset()
            found = self.bodies.match(toks, i)
            if found and "anycase" in found[1]:
                return found[0], "body", found[0], found[1]  # "huyện ủy Định Hóa"
            if found and "prefix" in found[1] and self.body(toks, found[0]) is not None:
                return found[0], "body", found[0], found[1]
            head = self.org_heads.match(toks, i)
            if head and "anycase" in head[1] and (org := self.org(toks, i)) is not None:
                return org[0], "org_lower", org[1], frozenset()  # "công ty Bách Đạt An"
            return None
        options = []
        if (found := self.bodies.match(toks, i)) is not None:
            options.append((found[0], "body", found[0], found[1]))
        if (end := self.domain_body(toks, i)) is not None:
            options.append((end, "domain", end, frozenset()))
        if (found := self.org(toks, i)) is not None:
            options.append((found[0], "org", found[1], frozenset()))
        return max(options, key=lambda o: o[0]) if options else None

    def unit(self, toks: list[Token], i: int) -> tuple[int, str, Place] | None:
        """A body with the bodies and the locality right after it: ``(end, kind, place)``.

        None for generic mentions: after a plural ("các Hội Luật gia"), before one or a level
        ("UBND các xã", "HĐND cấp huyện", "UBND 24 quận huyện")."""
        first = self.body(toks, i)
        if first is None or self.plural_before(toks, i) or "chain" in first[3]:
            return None
        end, kind, name_start, flags = first
        while True:
            end = self._skip_abbreviation(toks, end)  # "Ủy ban Mặt trận Tổ quốc (MTTQ) Việt Nam"
            if (more := self.body(toks, end)) is None:
                break
            end = more[0]
        if kind.startswith("org") and end == first[0]:
            if not self.is_surname(toks[name_start]):  # not "Trường THCS Phan Chu Trinh"
                place = self.split_run(toks, name_start, end, typed=True, province=False)
                if place.name_start > name_start:  # "Tập đoàn FLC | Trịnh Văn Quyết"
                    return place.name_start, kind, place
            if self.admin_types.match(toks, end) and (place := self.locality(toks, end, bare=False, free=False)):
                return place.end, kind, place  # "Cục Hải quan TP. HCM"
            return end, kind, Place(end, end, end)
        place = self.locality(toks, end, bare=True, free=True) or Place(end, end, end)
        if place.end > end and text_of(toks, end, place.end) == "Việt Nam" and place.name_end == place.end:
            more_place = self.locality(toks, place.end, bare=False, free=False)
            if more_place and self.admin_types.match(toks, place.end):
                place = more_place  # "UBMTTQ Việt Nam thành phố Hà Nội"
        if place.end == end:
            if end < len(toks) and (toks[end].key in _PLURAL or toks[end].key == "cấp" or toks[end].is_number):
                return None
            if "located" in flags and end == first[0]:
                return None  # "lực lượng Công an", "Đảng bộ, chính quyền"
        return place.end, kind, place

    def _enumerated(self, toks: list[Token], i: int, j: int) -> bool:
        """The title ``i:j`` stands in a list of titles ("Chủ tịch, Phó Chủ tịch")."""
        after = j < len(toks) - 1 and toks[j].text in (",", ";") + ("và",) and self.titles.match(toks, j + 1)
        after = after or (j < len(toks) - 1 and toks[j].key == "và" and self.titles.match(toks, j + 1))
        before = i >= 2 and toks[i - 1].text in (",", ";") and any(
            (t := self.titles.match(toks, k)) is not None and t[0] >= i - 1 for k in range(max(0, i - 6), i - 1)
        )
        return bool(after or before)

    @staticmethod
    def _skip_abbreviation(toks: list[Token], j: int) -> int:
        """Past a bracketed abbreviation at ``j`` ("(MTTQ)", "(KH&CN )"), else ``j``."""
        if j < len(toks) and toks[j].text == "(":
            k = j + 1
            while k < len(toks) and k - j <= 5 and (toks[k].text.isupper() or toks[k].text in "&-"):
                k += 1
            if k > j + 1 and k < len(toks) and toks[k].text == ")":
                return k + 1
        return j

    def plural_before(self, toks: list[Token], i: int) -> bool:
        k = i - 1
        while k >= 0 and i - k <= 2 and toks[k].key in _PLURAL_PEOPLE:
            k -= 1
        return k >= 0 and toks[k].key in _PLURAL

    def position(self, toks: list[Token], i: int) -> tuple[int, Place, str] | None:
        """A POSITION at ``i``: ``(end, what follows it, rule)``."""
        title = self.titles.match(toks, i)
        if not title or self.plural_before(toks, i):
            return None
        for back in (1, 2):  # "Thủ tướng" inside "Phó Thủ tướng"
            outer = self.titles.match(toks, i - back) if i >= back else None
            if outer and outer[0] > i:
                return None
        j = title[0]
        if (qual := self.qualifiers.match(toks, j)) is not None:
            j = qual[0]
        while (  # "Phó Chủ tịch - Tổng Thư ký"
            j + 1 < len(toks) and toks[j].text in "-–" and (more := self.titles.match(toks, j + 1)) is not None
        ):
            j = more[0]
        if j < len(toks) and toks[j].key in _PLURAL:
            return None  # "Trưởng các phòng"
        end, place = j, Place(j, j, j)
        if j < len(toks) and toks[j].is_upper_initial and (dom := self.domains.match(toks, j)) is not None:
            after = dom[0]  # the field right after the title: "Trưởng ban Tổ chức Thành ủy", "Bộ trưởng Nội vụ"
            if (found := self.unit(toks, after)) is not None:
                end, place = found[0], found[2]
            elif (loc := self.locality(toks, after, bare=True, free=False)) is not None:
                end, place = loc.end, loc
            else:
                end, place = after, Place(after, after, after)
        elif (found := self.unit(toks, j)) is not None:
            end, place = found[0], found[2]
        elif self.body(toks, j) is not None:
            return None  # "Chủ tịch UBND các xã": a generic role
        elif (loc := self.locality(toks, j, bare=True, free=False)) is not None:
            end, place = loc.end, loc
        elif (
            j < len(toks) and toks[j].is_upper_initial and (head := self.body_heads.match(toks, j)) is not None
            and (head[0] == len(toks) or not toks[head[0]].is_cap)
        ):
            end = head[0]  # "Giám đốc Sở", "Phó Chủ tịch Hội"
            place = Place(end, end, end)
        if end < len(toks) and toks[end].key in _PLURAL:
            return None  # "Chủ tịch UBND các xã"
        if end == j and self._enumerated(toks, i, j):
            return None  # "Chủ tịch, Phó Chủ tịch, Trưởng ban của HĐND": roles, not a person
        has_body = end > j
        lower = not toks[i].is_upper_initial
        if lower and not has_body:
            return None
        rule = ("pos_lower" if lower else "pos_body") if has_body else "pos_bare"
        return end, place, rule

    # -- one line -------------------------------------------------------------------------

    def scan_line(self, toks: list[Token]) -> list[Candidate]:
        """POSITION, UNIT, LOCATION and OFFICIAL candidates of one line."""
        out: list[Candidate] = []
        n = len(toks)

        def add(a: int, b: int, label: str, rule: str) -> None:
            if b > a:
                out.append(Candidate(toks[a].start, toks[b - 1].end, label, rule))

        for i in range(n):
            if (pos := self.position(toks, i)) is not None:
                end, place, rule = pos
                add(i, end, "POSITION", rule)
                if place.name_end > place.name_start and self.name_ok(toks, place.name_start, place.name_end):
                    add(place.name_start, place.name_end, "OFFICIAL", "off_after_position")
            if (unit := self.unit(toks, i)) is not None:
                end, kind, place = unit
                add(i, end, "UNIT", f"unit_{kind}")
                if place.name_end - place.name_start >= 2:
                    add(place.name_start, place.name_end, "OFFICIAL", "off_after_unit")
            if (typ := self.admin_types.match(toks, i)) is not None and not (i > 0 and toks[i - 1].key in _PLURAL):
                # after a body ("UBND huyện Đặng Trần Phong") a full name is a person, not a place
                loc = self.locality(toks, i, bare=False, free=True, person=self._ends_body(toks, i))
                if loc and loc.end > typ[0]:
                    add(i, loc.end, "LOCATION", "loc_admin")
                    self._list_names(toks, loc.end, out, after_name=True)
            site = self.site_types.match(toks, i)
            if site and (
                "not" in site[1]
                or (site[0] - i == 1 and "lower" in site[1] and toks[i].is_upper_initial)  # "Hồ Thị Tư"
                or (i > 0 and (toks[i - 1].key, toks[i].key) in self.site_compounds)  # "yêu cầu"
            ):
                site = None
            if site is not None:
                j, flags = site
                if j < n and toks[j].is_cap and (run := self.cap_run(toks, j, site=True)) > j:
                    add(i, run, "LOCATION", "loc_site")
                    self._list_names(toks, run, out, after_name=True)  # "Cụm công nghiệp Liên Hoa, Hòa Lộc"
                elif j < n and toks[j].is_number and "number" in flags:
                    end = j + 2 if j + 1 < n and toks[j + 1].is_cap and not toks[j + 1].space_before else j + 1
                    add(i, end, "LOCATION", "loc_site")
            if (place := self.places.match(toks, i)) is not None and (toks[i].is_upper_initial or "lower" in place[1]):
                inside = (i > 0 and toks[i - 1].is_cap) or (place[0] < n and toks[place[0]].is_title_case)
                if "after_type" not in place[1] and not inside:  # not "Nguyễn Thái Bình", "Hà Nội Mới"
                    add(i, place[0], "LOCATION", "loc_place")
            if toks[i].key in _PLURAL and (plural := self.admin_types.match(toks, i + 1)) is not None:
                self._list_names(toks, plural[0], out)
            if (hon := self.honorifics.match(toks, i)) is not None and not self.not_names.match(toks, i):
                j = hon[0]
                if j < n and toks[j].is_title_case and not self.not_names.match(toks, j):
                    run = self.cap_run(toks, j)
                    if self.name_ok(toks, j, run):
                        add(j, run, "OFFICIAL", "off_honorific")
        return out

    def _list_names(self, toks: list[Token], j: int, out: list[Candidate], after_name: bool = False) -> None:
        """Each name of "các xã A, B và C"; with ``after_name``, the names after "huyện A, B và C"."""
        names = []
        if after_name:
            if not (j + 1 < len(toks) and (toks[j].text == "," or toks[j].key == "và")):
                return
            j += 1
        while j < len(toks) and toks[j].is_cap:
            run = self.cap_run(toks, j)
            if run == j or (self.is_surname(toks[j]) and 2 <= run - j <= 4 and not self.places.match(toks, j)):
                break  # not "xã Kim Liên, Nguyễn Văn A"
            names.append((j, run))
            if run + 1 < len(toks) and (toks[run].text == "," or toks[run].key == "và"):
                j = run + 1
            else:
                break
        if len(names) >= (1 if after_name else 2):
            rule = "loc_list_after" if after_name else "loc_list"
            out += [Candidate(toks[a].start, toks[b - 1].end, "LOCATION", rule) for a, b in names]

    # -- the document ---------------------------------------------------------------------

    def candidates(self, text: str) -> list[Candidate]:
        """Every candidate of every rule, before overlaps are resolved."""
        cands = self.figures(text) + self.dates(text)
        lines = tokenize(text)
        for toks in lines:
            cands += self.scan_line(toks)
        cands += self._document_rules(text, lines, cands)
        return [c for c in (_strip(text, c) for c in cands) if c is not None]

    def _document_rules(self, text: str, lines: list[list[Token]], cands: list[Candidate]) -> list[Candidate]:
        """Rules that need all candidates of the document: names next to a POSITION ("Nguyễn Văn A,
        Chủ tịch ...", "Chủ tịch ..., Nguyễn Văn A"), names listed with a found name, recurring
        full names, and bare repeats of place names first seen after a type word."""
        out: list[Candidate] = []
        position_starts = {c.start for c in cands if c.label == "POSITION"}
        position_ends = {c.end for c in cands if c.label == "POSITION"}
        official = {(c.start, c.end) for c in cands if c.label == "OFFICIAL"}
        names = {text[a:b] for a, b in official if " " in text[a:b]}
        # Acronyms of organisations: "FLC" of "Tập đoàn FLC", "PVN" of "Tập đoàn Dầu khí Việt Nam (PVN)"
        org_names = set()
        for c in cands:
            if c.label != "UNIT":
                continue
            if c.rule.startswith("unit_org"):
                toks = tokenize(text[c.start:c.end])[0]
                if (org := self.org(toks, 0)) is not None and org[1] == len(toks) - 1:
                    org_names.add(toks[-1].text)
            if (abbr := _ABBREVIATION_AFTER.match(text, c.end)) is not None:
                org_names.add(abbr.group(1))
        org_names = {
            name for name in org_names
            if len(name) >= 2 and not name[1:].islower() and fold(name) not in self.places.firsts
        }
        places = set()
        for c in cands:
            if c.rule == "loc_admin":
                toks = tokenize(text[c.start:c.end])[0]
                typ = self.admin_types.match(toks, 0)
                k = typ[0] if typ else 1
                while k < len(toks) and toks[k].text == ".":
                    k += 1
                if k < len(toks) and toks[k].is_cap:
                    places.add(text[c.start + toks[k].start:c.end])
        full_names = []  # (tokens of the line, start, end) of runs that look like full personal names
        for toks in lines:
            i, n = 0, len(toks)
            while i < n:
                if not toks[i].is_cap:
                    i += 1
                    continue
                run = self.cap_run(toks, i)
                if run == i:
                    i += 1
                    continue
                a, b = toks[i].start, toks[run - 1].end
                surface = text[a:b]
                if surface in org_names:
                    out.append(Candidate(a, b, "UNIT", "unit_repeat"))
                if not toks[i].is_title_case:
                    i = run
                    continue
                if surface in names:
                    out.append(Candidate(a, b, "OFFICIAL", "off_repeat"))
                elif surface in places:
                    out.append(Candidate(a, b, "LOCATION", "loc_repeat"))
                if self.is_surname(toks[i]) and 2 <= run - i <= 4 and self.name_ok(toks, i, run):
                    full_names.append((toks, i, run))
                    if run + 1 < n and toks[run].text in (",", "-", "–") and toks[run + 1].start in position_starts:
                        out.append(Candidate(a, b, "OFFICIAL", "off_before_position"))
                    if i >= 2 and toks[i - 1].text in (",", ":") and toks[i - 2].end in position_ends:
                        out.append(Candidate(a, b, "OFFICIAL", "off_after_position_comma"))
                i = run
        # names listed with a found name: "Lê Xuân Đại, Đinh Viết Hồng, Lê Minh Thông"
        found = official | {(c.start, c.end) for c in out if c.label == "OFFICIAL"}
        ends = {b for _, b in found}
        starts = {a for a, _ in found}
        changed = True
        while changed:
            changed = False
            for toks, i, run in full_names:
                a, b = toks[i].start, toks[run - 1].end
                if (a, b) in found:
                    continue
                before = i >= 2 and toks[i - 1].text in (",", ";") + ("và",) and toks[i - 2].end in ends
                before = before or (i >= 2 and toks[i - 1].key == "và" and toks[i - 2].end in ends)
                after = run + 1 < len(toks) and (toks[run].text in (",", ";") or toks[run].key == "và") \
                    and toks[run + 1].start in starts
                if before or after:
                    found.add((a, b))
                    ends.add(b)
                    starts.add(a)
                    out.append(Candidate(a, b, "OFFICIAL", "off_list"))
                    changed = True
        return out

    def spans(self, text: str, labels: Iterable[str] | None = None) -> list[Span]:
        """Resolved entities of ``text`` (only ``labels`` when given), scored by rule."""
        allowed = set(labels) if labels is not None else None
        cands = [c for c in self.candidates(text) if allowed is None or c.label in allowed]
        return [
            Span(c.start, c.end, c.label, self.confidence.get(c.rule, DEFAULT_CONFIDENCE)) for c in resolve(cands)
        ]


# ---------------------------------------------------------------------------------------------
# The engine


class RulesModel(NerModel):
    """Rule-based pre-annotation. ``path`` is the word-list folder (default: the bundled one)."""

    engine = ENGINE
    thread_safe = True  # read-only after construction

    def __init__(
        self, path: str | Path | None = None, meta: dict[str, Any] | None = None, schema: LabelSchema | None = None
    ):
        schema = schema or load_schema()
        data_dir = Path(path) if path is not None and (Path(path) / "titles.txt").is_file() else DATA_DIR
        meta = {"engine": ENGINE, "schema": schema.to_dict(), **(meta or {})}
        super().__init__(data_dir, meta, schema)
        self.rules = Rules(data_dir)

    @property
    def version(self) -> str:
        """``rules@<digest of the word lists>``: edited lists are a new version."""
        digest = hashlib.sha256()
        for file in sorted(p for p in self.path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(self.path).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
        return f"{ENGINE}@{digest.hexdigest()[:10]}"

    def predict_normalized(self, texts: list[str]) -> list[list[Span]]:
        labels = self.schema.names
        return [self.rules.spans(text, labels) for text in texts]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_models: dict[LabelSchema, RulesModel] = {}
_lock = threading.Lock()


def load_rules_model(schema: LabelSchema | None = None) -> RulesModel:
    """The rules model for ``schema`` (default: the active label schema), built once."""
    schema = schema or load_schema()
    with _lock:
        if schema not in _models:
            _models[schema] = RulesModel(schema=schema)
        return _models[schema]
