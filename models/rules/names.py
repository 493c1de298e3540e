"""Capitalised runs read as places, personal names and the names of organisations.

A run of capitalised syllables after a body, title or type word is split into a place and a
personal name where a family name starts (``surnames.txt``): "Can Lộc | Nghiêm Sỹ Đống".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.rules.lexicon import Token, WordLists


@dataclass(frozen=True)
class Place:
    """What follows a body or title: its locality ends at ``end``; a personal name may follow."""

    end: int
    name_start: int
    name_end: int


class NameRules:
    """Where a name starts and ends: places, personal names, organisations' own names."""

    def __init__(self, words: WordLists):
        self.words = words

    def starts_entity(self, toks: list[Token], j: int, honorific: bool = True) -> bool:
        """A capitalised title, body, type word (with a name) or honorific begins at ``j``."""
        if not toks[j].is_upper_initial:
            return False
        if not honorific and self.words.honorifics.match(toks, j):
            return False  # "Cát Bà": an honorific inside a run is a syllable of the name
        typ = self.words.admin_types.match(toks, j)
        if typ and typ[0] < len(toks) and (toks[typ[0]].is_cap or toks[typ[0]].is_number):
            return True  # "Quận 2", "Huyện Cần Giờ"; not "Nhật Bản tại"
        return bool(
            self.words.titles.match(toks, j)
            or self.words.bodies.match(toks, j)
            or self.domain_body(toks, j)
            or (self.words.org_heads.match(toks, j) and self.org(toks, j))
            or self.words.honorifics.match(toks, j)
        )

    def cap_run(self, toks: list[Token], i: int, *, site: bool = False) -> int:
        """End of the run of capitalised words from ``i`` (hyphen-joined ones too), stopping where a
        title, body, type word or honorific begins. A ``site`` name may start with an honorific
        ("Đền Bà Triệu") and join words around a spaced dash ("cao tốc Bắc - Nam")."""
        j = i
        while j < len(toks):
            tok = toks[j]
            starts = self.starts_entity(toks, j, j == i and not site) or self.words.name_starts.match(toks, j)
            if tok.is_cap and not starts:
                j += 1
            elif (
                tok.text in "-–"
                and j > i
                and j + 1 < len(toks)
                and toks[j + 1].is_cap
                and (site or not tok.space_before and not toks[j + 1].space_before)
            ):
                j += 1
            else:
                break
        return j

    def is_surname(self, tok: Token) -> bool:
        return tok.is_title_case and tok.key in self.words.surnames

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
        place = self.words.places.match(toks, i)
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

    def locality(
        self, toks: list[Token], i: int, *, bare: bool, free: bool, person: bool | None = None
    ) -> Place | None:
        """The place after a body or title, from token ``i``.

        ``bare`` allows a type word without a name ("UBND huyện"), as in a title or body;
        ``free`` allows capitalised syllables without a type word ("Huyện ủy Hậu Lộc"), else only
        known places and personal names; ``person`` (default: ``bare``) reads a full name after a
        district-level type word as a person (see :meth:`split_run`)."""
        n = len(toks)
        typ = self.words.admin_types.match(toks, i)
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
                j + 1 < n
                and toks[j].text == "."
                and abbreviation
                and not toks[j].space_before
                and (toks[j + 1].is_cap or toks[j + 1].is_number)
            ):
                j += 1  # "TP. HCM", "TP.HCM", but not "các tỉnh. Các"
            if j < n and toks[j].is_number and "number" in flags:  # "quận 2"
                after = self._name_after(toks, j + 1)  # "Chủ tịch UBND quận 1 Trần Thế Thuận"
                return after if after.name_end == j + 1 or self.is_surname(toks[j + 1]) else Place(j + 1, j + 1, j + 1)
            known = self.words.places.match(toks, j)
            if known and toks[j].is_upper_initial and known[0] >= self.cap_run(toks, j):
                return self._name_after(toks, known[0])  # a known place, even "Hải phòng"
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
            split = self.split_run(toks, i, run, typed=False, province=False)
            if free or ((known := self.words.places.match(toks, i)) and "after_type" not in known[1]):
                return split
            # after a title only a known place or a personal name: "Thủ tướng Nguyễn Xuân Phúc"
            return Place(i, i, split.name_end) if split.name_start == i < split.name_end else None
        return None

    def domain_body(self, toks: list[Token], i: int) -> int | None:
        """End of a head + field ("Sở Tài chính", "sở Kế hoạch và Đầu tư")."""
        head = self.words.body_heads.match(toks, i)
        if head and head[0] < len(toks) and toks[head[0]].is_upper_initial:
            dom = self.words.domains.match(toks, head[0])
            if dom:
                return dom[0]
        return None

    def org(self, toks: list[Token], i: int) -> tuple[int, int] | None:
        """``(end, start of its name)`` of a named organisation ("Công ty TNHH Kim Chính")."""
        head = self.words.org_heads.match(toks, i)
        if not head:
            return None
        j = head[0]
        while (form := self.words.legal_forms.match(toks, j)) is not None:
            j = form[0]
        start = j
        if "desc" in head[1]:  # "Ban quản lý khu đô thị Thủ Thiêm": lower-case words, then a name
            while (
                j < len(toks)
                and j - start < 5
                and toks[j].text.isalpha()
                and toks[j].text.islower()
                and (toks[j].key == "và" or not self.words.name_stops.match(toks, j))
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
            if end > j and self.words.admin_types.match(toks, end):
                break  # the locality after the name: "Cục Hải quan | TP. HCM"
            run = self.cap_run(toks, end)
            if run == end:
                break
            first_part, end = end == j and run - end == 1, run
            if (
                end < n
                and re.fullmatch(r"\d{1,2}", toks[end].text)
                and (end + 1 == n or not toks[end + 1].text.isalnum())
            ):
                return end + 1  # "Công ty Ánh Tuyết 1"
            k = end
            while (
                k < n
                and k - end < 4
                and toks[k].text.isalpha()
                and toks[k].text.islower()
                and (toks[k].key == "và" or not self.words.name_stops.match(toks, k))
            ):
                k += 1
            if k == end:
                break
            if k < n and toks[k].is_cap:
                end = k  # a bridge between two capitalised parts
            elif (
                first_part
                and k - end <= 2
                and toks[k - 1].key != "và"
                and (k == n or not toks[k].text.isalnum() or self.words.name_stops.match(toks, k))
            ):
                return k  # "Ung thư" in "Bệnh viện Ung thư đã"
            else:
                break
        return end
