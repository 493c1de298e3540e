"""Word lists of the rules engine and the tokens they are matched on (syllables, folded keys)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from corpus.text import WORD
from models.rules.folding import fold, new_style, old_style, restyle

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "rules"


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
        for match in WORD.finditer(line.group()):
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
            key = tuple(fold(w) for w in WORD.findall(text))
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
                found = self.entries.get(tuple(t.key for t in toks[i : i + length]))
                if found is not None:
                    return i + length, found[1]
        return None

    def alternation(self) -> str:
        """A regex for any entry in either tone style, longest first; a space matches any spaces."""
        forms = set()
        for text, _ in self.entries.values():
            forms |= {text, restyle(text, new_style), restyle(text, old_style)}
        ordered = sorted(forms, key=len, reverse=True)
        return "|".join(r"[^\S\n]*".join(re.escape(part) for part in form.split()) for form in ordered)


class WordLists:
    """Every word list of a rules data folder, loaded once (see ``models/data/rules/README.md``)."""

    def __init__(self, data_dir: Path = DATA_DIR):
        self.data_dir = Path(data_dir)
        self.lists = {
            name: Gazetteer(read_list(f"{name}.txt", self.data_dir))
            for name in (
                "titles",
                "title_qualifiers",
                "bodies",
                "body_heads",
                "domains",
                "org_heads",
                "legal_forms",
                "admin_types",
                "site_types",
                "places",
                "honorifics",
                "not_names",
                "units",
                "counters",
                "multipliers",
                "number_words",
                "approximators",
                "figure_bases",
            )
        }
        lists = self.lists
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
        self.unit_keys = {tuple(fold(w) for w in WORD.findall(e)) for e, _ in read_list("units.txt", self.data_dir)}
        self.confidence = read_confidences(self.data_dir)
