"""UNIT and POSITION: a body or title with the bodies, field and locality that follow it."""

from __future__ import annotations

from models.rules.lexicon import Token, text_of
from models.rules.names import NameRules, Place

PLURAL = {"các", "những", "mọi", "nhiều", "mấy", "hai", "ba"}
PLURAL_PEOPLE = {"đồng", "chí", "ông", "bà", "vị", "anh", "chị"}


class BodyRules(NameRules):
    """Bodies (``UBND``, ``Sở Tài chính``, ``Công ty ...``) made into UNITs, titles into POSITIONs."""

    def body(self, toks: list[Token], i: int) -> tuple[int, str, int, frozenset[str]] | None:
        """``(end, kind, start of the organisation's own name, flags)`` of one body at ``i``; the
        longest kind. In lower case only a head with its field ("sở Kế hoạch và Đầu tư") or a
        "prefix" body before another body ("thường trực HĐND")."""
        if i >= len(toks):
            return None
        if not toks[i].is_upper_initial:
            if (end := self.domain_body(toks, i)) is not None:
                return end, "domain_lower", end, frozenset()
            found = self.words.bodies.match(toks, i)
            if found and "anycase" in found[1]:
                return found[0], "body", found[0], found[1]  # "huyện ủy Định Hóa"
            if found and "prefix" in found[1] and self.body(toks, found[0]) is not None:
                return found[0], "body", found[0], found[1]
            head = self.words.org_heads.match(toks, i)
            if head and "anycase" in head[1] and (org := self.org(toks, i)) is not None:
                return org[0], "org_lower", org[1], frozenset()  # "công ty Bách Đạt An"
            return None
        options = []
        if (found := self.words.bodies.match(toks, i)) is not None:
            options.append((found[0], "body", found[0], found[1]))
        if (end := self.domain_body(toks, i)) is not None:
            options.append((end, "domain", end, frozenset()))
        if (named := self.org(toks, i)) is not None:
            options.append((named[0], "org", named[1], frozenset()))
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
            if self.words.admin_types.match(toks, end) and (typed := self.locality(toks, end, bare=False, free=False)):
                return typed.end, kind, typed  # "Cục Hải quan TP. HCM"
            return end, kind, Place(end, end, end)
        place = self.locality(toks, end, bare=True, free=True) or Place(end, end, end)
        if place.end > end and text_of(toks, end, place.end) == "Việt Nam" and place.name_end == place.end:
            more_place = self.locality(toks, place.end, bare=False, free=False)
            if more_place and self.words.admin_types.match(toks, place.end):
                place = more_place  # "UBMTTQ Việt Nam thành phố Hà Nội"
        if place.end == end:
            if end < len(toks) and (toks[end].key in PLURAL or toks[end].key == "cấp" or toks[end].is_number):
                return None
            if "located" in flags and end == first[0]:
                return None  # "lực lượng Công an", "Đảng bộ, chính quyền"
        return place.end, kind, place

    def _enumerated(self, toks: list[Token], i: int, j: int) -> bool:
        """The title ``i:j`` stands in a list of titles ("Chủ tịch, Phó Chủ tịch")."""
        after = j < len(toks) - 1 and toks[j].text in (",", ";") + ("và",) and self.words.titles.match(toks, j + 1)
        after = after or (j < len(toks) - 1 and toks[j].key == "và" and self.words.titles.match(toks, j + 1))
        before = (
            i >= 2
            and toks[i - 1].text in (",", ";")
            and any(
                (t := self.words.titles.match(toks, k)) is not None and t[0] >= i - 1
                for k in range(max(0, i - 6), i - 1)
            )
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
        while k >= 0 and i - k <= 2 and toks[k].key in PLURAL_PEOPLE:
            k -= 1
        return k >= 0 and toks[k].key in PLURAL

    def position(self, toks: list[Token], i: int) -> tuple[int, Place, str] | None:
        """A POSITION at ``i``: ``(end, what follows it, rule)``."""
        title = self.words.titles.match(toks, i)
        if not title or self.plural_before(toks, i):
            return None
        for back in (1, 2):  # "Thủ tướng" inside "Phó Thủ tướng"
            outer = self.words.titles.match(toks, i - back) if i >= back else None
            if outer and outer[0] > i:
                return None
        j = title[0]
        if (qual := self.words.qualifiers.match(toks, j)) is not None:
            j = qual[0]
        while (  # "Phó Chủ tịch - Tổng Thư ký"
            j + 1 < len(toks) and toks[j].text in "-–" and (more := self.words.titles.match(toks, j + 1)) is not None
        ):
            j = more[0]
        if j < len(toks) and toks[j].key in PLURAL:
            return None  # "Trưởng các phòng"
        end, place = j, Place(j, j, j)
        if j < len(toks) and toks[j].is_upper_initial and (dom := self.words.domains.match(toks, j)) is not None:
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
            j < len(toks)
            and toks[j].is_upper_initial
            and (head := self.words.body_heads.match(toks, j)) is not None
            and (head[0] == len(toks) or not toks[head[0]].is_cap)
        ):
            end = head[0]  # "Giám đốc Sở", "Phó Chủ tịch Hội"
            place = Place(end, end, end)
        if end < len(toks) and toks[end].key in PLURAL:
            return None  # "Chủ tịch UBND các xã"
        if end == j and self._enumerated(toks, i, j):
            return None  # "Chủ tịch, Phó Chủ tịch, Trưởng ban của HĐND": roles, not a person
        has_body = end > j
        lower = not toks[i].is_upper_initial
        if lower and not has_body:
            return None
        rule = ("pos_lower" if lower else "pos_body") if has_body else "pos_bare"
        return end, place, rule
