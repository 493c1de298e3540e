"""Records of one article: the people with their posts, the values with their periods.

:func:`records_of` turns entities (and their relations, predicted by rules when not given) into
two tables: ``people`` (one row per person: mentions of one name merged, a short name joined to
the one full name it ends) and ``values`` (one row per FIGURE or TARGET: normalized number,
unit, qualifier, base, indicator and period). Offsets index the text as given.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from corpus.document import Relation, Span
from corpus.schema import LabelSchema, load_schema, with_default_relations
from corpus.text import replace_lone_surrogates
from models.relations import HOLDS, PERIOD, rule_relations
from models.values import Value, parse_value

KINDS = {"TARGET": "target", "FIGURE": "achieved"}


def clean(surface: str) -> str:
    """NFC text on one line, single-spaced, lone surrogates as U+FFFD: how names and posts appear in the tables."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", replace_lone_surrogates(surface)[0])).strip()


@dataclass
class Person:
    name: str
    posts: list[str] = field(default_factory=list)
    mentions: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "posts": list(self.posts),
            "mentions": [{"start": a, "end": b} for a, b in self.mentions],
        }


@dataclass
class ValueRecord:
    start: int
    end: int
    text: str
    label: str
    value: Value
    period: tuple[int, int, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "text": self.text, "kind": KINDS[self.label]}
        out |= self.value.to_dict()
        out["period"] = (
            {"start": self.period[0], "end": self.period[1], "text": self.period[2]} if self.period else None
        )
        return out


@dataclass
class Records:
    people: list[Person]
    values: list[ValueRecord]
    relations: list[Relation] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """The two tables: ``{"people": [...], "values": [...]}``."""
        return {"people": [p.to_dict() for p in self.people], "values": [v.to_dict() for v in self.values]}


def _as_span(entity: Span | Mapping[str, Any]) -> Span:
    if isinstance(entity, Span):
        return entity
    return Span(int(entity["start"]), int(entity["end"]), str(entity["label"]))


def _people(text: str, names: list[Span], posts_of: dict[tuple[int, int], list[Span]]) -> list[Person]:
    by_key: dict[str, Person] = {}
    for span in names:
        name = clean(text[span.start:span.end])
        person = by_key.setdefault(name.casefold(), Person(name))
        person.mentions.append((span.start, span.end))
        for post in posts_of.get((span.start, span.end), []):
            title = clean(text[post.start:post.end])
            if title not in person.posts:
                person.posts.append(title)
    # "ông Hùng" is the Nguyễn Văn Hùng of the article when exactly one full name ends so.
    for key in sorted(by_key, key=len):
        longer = [k for k in by_key if len(k) > len(key) and k.endswith(" " + key)]
        if len(longer) == 1:
            short, full = by_key.pop(key), by_key[longer[0]]
            full.mentions = sorted(full.mentions + short.mentions)
            full.posts += [p for p in short.posts if p not in full.posts]
    return sorted(by_key.values(), key=lambda p: p.mentions[0])


def records_of(
    text: str,
    entities: Iterable[Span | Mapping[str, Any]],
    relations: Iterable[Relation] | None = None,
    schema: LabelSchema | None = None,
) -> Records:
    """People and values of ``text`` from its entities (spans or ``predict`` dicts) and relations.

    Without ``relations`` they are predicted by :func:`models.relations.rule_relations`.
    """
    spans = sorted({_as_span(e) for e in entities})
    if relations is None:
        relations = rule_relations(text, spans, with_default_relations(schema or load_schema()))
    relations = list(relations)
    by_offsets = {(s.start, s.end): s for s in spans}
    posts_of: dict[tuple[int, int], list[Span]] = {}
    period_of: dict[tuple[int, int], Span] = {}
    for relation in sorted(relations, key=lambda r: (r.head, r.tail)):
        tail = by_offsets.get(relation.tail)
        if tail is None or relation.head not in by_offsets:
            continue
        if relation.type == HOLDS:
            posts_of.setdefault(relation.head, []).append(tail)
        elif relation.type == PERIOD:
            period_of.setdefault(relation.head, tail)
    people = _people(text, [s for s in spans if s.label == "OFFICIAL"], posts_of)
    values = []
    for span in spans:
        if span.label not in KINDS:
            continue
        surface = replace_lone_surrogates(text[span.start:span.end])[0]  # as predict's entity "text"
        date = period_of.get((span.start, span.end))
        values.append(ValueRecord(
            span.start, span.end, surface, span.label, parse_value(clean(surface), span.label),
            (date.start, date.end, clean(text[date.start:date.end])) if date else None,
        ))
    return Records(people, values, relations)


def with_records(text: str, entities: list[dict[str, Any]], schema: LabelSchema | None = None) -> dict[str, Any]:
    """What ``predict(text, records=True)`` answers: ``{"entities", "relations", "records"}``.

    ``relations`` are in the gold format (``{"head": [start, end], "tail": [start, end], "type"}``,
    plus ``"score"`` when the relation step gives one); ``records`` is :meth:`Records.to_dict`.
    """
    found = records_of(text, entities, schema=schema)
    return {"entities": entities, "relations": [r.to_dict() for r in found.relations], "records": found.to_dict()}
