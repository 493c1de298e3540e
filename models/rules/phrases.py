"""UNIT, POSITION, LOCATION and OFFICIAL candidates of one line of text.

A line is read token by token (syllables with folded keys, :mod:`models.rules.lexicon`): titles
and bodies become POSITION and UNIT (:mod:`models.rules.bodies`), type words and known places
LOCATION, names after an honorific or a POSITION OFFICIAL (:mod:`models.rules.names`).
"""

from __future__ import annotations

from models.rules.bodies import PLURAL, BodyRules
from models.rules.candidates import Candidate
from models.rules.lexicon import Token


class PhraseRules(BodyRules):
    """The rules for entities made of words, applied to one line."""

    def _ends_body(self, toks: list[Token], i: int) -> bool:
        """A body ends right before token ``i``."""
        return any(
            i - size >= 0 and (found := self.words.bodies.match(toks, i - size)) is not None and found[0] == i
            for size in self.words.bodies.lengths
        )

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
            if (typ := self.words.admin_types.match(toks, i)) is not None and not (i > 0 and toks[i - 1].key in PLURAL):
                # after a body ("UBND huyện Đặng Trần Phong") a full name is a person, not a place
                loc = self.locality(toks, i, bare=False, free=True, person=self._ends_body(toks, i))
                if loc and loc.end > typ[0]:
                    add(i, loc.end, "LOCATION", "loc_admin")
                    self._list_names(toks, loc.end, out, after_name=True)
            site = self.words.site_types.match(toks, i)
            if site and (
                "not" in site[1]
                or (site[0] - i == 1 and "lower" in site[1] and toks[i].is_upper_initial)  # "Hồ Thị Tư"
                or (i > 0 and (toks[i - 1].key, toks[i].key) in self.words.site_compounds)  # "yêu cầu"
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
            if (known := self.words.places.match(toks, i)) is not None and (
                toks[i].is_upper_initial or "lower" in known[1]
            ):
                inside = (i > 0 and toks[i - 1].is_cap) or (known[0] < n and toks[known[0]].is_title_case)
                if "after_type" not in known[1] and not inside:  # not "Nguyễn Thái Bình", "Hà Nội Mới"
                    add(i, known[0], "LOCATION", "loc_place")
            if toks[i].key in PLURAL and (plural := self.words.admin_types.match(toks, i + 1)) is not None:
                self._list_names(toks, plural[0], out)
            if (hon := self.words.honorifics.match(toks, i)) is not None and not self.words.not_names.match(toks, i):
                j = hon[0]
                if j < n and toks[j].is_title_case and not self.words.not_names.match(toks, j):
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
            if run == j or (self.is_surname(toks[j]) and 2 <= run - j <= 4 and not self.words.places.match(toks, j)):
                break  # not "xã Kim Liên, Nguyễn Văn A"
            names.append((j, run))
            if run + 1 < len(toks) and (toks[run].text == "," or toks[run].key == "và"):
                j = run + 1
            else:
                break
        if len(names) >= (1 if after_name else 2):
            rule = "loc_list_after" if after_name else "loc_list"
            out += [Candidate(toks[a].start, toks[b - 1].end, "LOCATION", rule) for a, b in names]
