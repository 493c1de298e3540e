"""Rules that need every candidate of a document: names beside a POSITION, names listed with a
found name, recurring full names, acronyms of organisations and bare repeats of place names."""

from __future__ import annotations

import re

from models.rules.candidates import Candidate
from models.rules.folding import fold
from models.rules.lexicon import Token, tokenize
from models.rules.phrases import PhraseRules

# An abbreviation in brackets right after a UNIT: "Tập đoàn Dầu khí Việt Nam (PVN)".
ABBREVIATION_AFTER = re.compile(r"[^\S\n]*\(([A-ZĐ][A-ZĐ0-9&]{1,11})\)")


def document_candidates(
    rules: PhraseRules, text: str, lines: list[list[Token]], cands: list[Candidate]
) -> list[Candidate]:
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
            toks = tokenize(text[c.start : c.end])[0]
            if (org := rules.org(toks, 0)) is not None and org[1] == len(toks) - 1:
                org_names.add(toks[-1].text)
        if (abbr := ABBREVIATION_AFTER.match(text, c.end)) is not None:
            org_names.add(abbr.group(1))
    org_names = {
        name
        for name in org_names
        if len(name) >= 2 and not name[1:].islower() and fold(name) not in rules.words.places.firsts
    }
    places = set()
    for c in cands:
        if c.rule == "loc_admin":
            toks = tokenize(text[c.start : c.end])[0]
            typ = rules.words.admin_types.match(toks, 0)
            k = typ[0] if typ else 1
            while k < len(toks) and toks[k].text == ".":
                k += 1
            if k < len(toks) and toks[k].is_cap:
                places.add(text[c.start + toks[k].start : c.end])
    full_names = []  # (tokens of the line, start, end) of runs that look like full personal names
    for toks in lines:
        i, n = 0, len(toks)
        while i < n:
            if not toks[i].is_cap:
                i += 1
                continue
            run = rules.cap_run(toks, i)
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
            if rules.is_surname(toks[i]) and 2 <= run - i <= 4 and rules.name_ok(toks, i, run):
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
            after = (
                run + 1 < len(toks)
                and (toks[run].text in (",", ";") or toks[run].key == "và")
                and toks[run + 1].start in starts
            )
            if before or after:
                found.add((a, b))
                ends.add(b)
                starts.add(a)
                out.append(Candidate(a, b, "OFFICIAL", "off_list"))
                changed = True
    return out
