"""Documents, entity spans and relations between spans: the data every package exchanges."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Span:
    """An entity: ``text[start:end]`` (code points, end exclusive) carries ``label``."""

    start: int
    end: int
    label: str
    score: float | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label}
        if self.score is not None:
            out["score"] = self.score
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Span:
        """A span from JSON; offsets must be whole numbers as written (never rounded), the label a string."""
        start, end, label, score = data["start"], data["end"], data["label"], data.get("score")
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"span {name} must be a whole number, not {value!r}")
        if not isinstance(label, str):
            raise ValueError(f"span label must be a string, not {label!r}")
        if score is not None and (not isinstance(score, (int, float)) or isinstance(score, bool)):
            raise ValueError(f"span score must be a number, not {score!r}")
        return cls(start, end, label, score)


@dataclass(frozen=True, order=True)
class Relation:
    """A typed link from the span at ``head`` to the span at ``tail`` (each ``(start, end)`` of a span)."""

    head: tuple[int, int]
    tail: tuple[int, int]
    type: str
    score: float | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"head": list(self.head), "tail": list(self.tail), "type": self.type}
        if self.score is not None:
            out["score"] = self.score
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Relation:
        head, tail = data["head"], data["tail"]
        if len(head) != 2 or len(tail) != 2:
            raise ValueError(f"head and tail must be [start, end] pairs, not {head!r} and {tail!r}")
        return cls((int(head[0]), int(head[1])), (int(tail[0]), int(tail[1])), str(data["type"]), data.get("score"))


@dataclass
class Document:
    """One article. ``spans`` is empty for unannotated text; ``meta`` holds provenance.

    ``relations`` is None when the document carries no relation annotation (no ``relations``
    key in its JSON), and a list, possibly empty, when it does.
    """

    id: str
    text: str
    title: str = ""
    date: str | None = None
    source: str = ""
    spans: list[Span] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    relations: list[Relation] | None = None

    def to_dict(self, with_spans: bool = True) -> dict[str, Any]:
        out = asdict(self)
        out["spans"] = [s.to_dict() for s in self.spans]
        if not with_spans:
            del out["spans"]
        if not self.meta:
            del out["meta"]
        if self.relations is None or not with_spans:
            del out["relations"]
        else:
            out["relations"] = [r.to_dict() for r in self.relations]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        return cls(
            id=_id_field(data),
            text=_text_field(data, "text", required=True),
            title=_text_field(data, "title"),
            date=_date_field(data),
            source=_text_field(data, "source"),
            spans=[Span.from_dict(s) for s in _list_field(data, "spans")],
            meta=dict(data.get("meta") or {}),
            relations=None if data.get("relations") is None else [Relation.from_dict(r) for r in data["relations"]],
        )


# A date as the corpus records it: a year, a month or a day (ISO 8601).
_DATE = re.compile(r"\d{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?)?")


def _text_field(data: dict[str, Any], key: str, required: bool = False) -> str:
    value = data[key] if required else data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, not {type(value).__name__} {value!r:.40}")
    return value


def _id_field(data: dict[str, Any]) -> str:
    value = data["id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ValueError(f"'id' must be a non-empty string or a number, not {value!r:.40}")
    return str(value)


def _date_field(data: dict[str, Any]) -> str | None:
    value = data.get("date")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError(f"'date' must be YYYY, YYYY-MM or YYYY-MM-DD, not {value!r:.40}")
    return value


def _list_field(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} must be a list, not {type(value).__name__}")
    return value
