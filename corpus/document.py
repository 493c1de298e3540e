"""Documents and entity spans: the data every package exchanges."""

from __future__ import annotations

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
        return cls(int(data["start"]), int(data["end"]), str(data["label"]), data.get("score"))


@dataclass
class Document:
    """One article. ``spans`` is empty for unannotated text; ``meta`` holds provenance."""

    id: str
    text: str
    title: str = ""
    date: str | None = None
    source: str = ""
    spans: list[Span] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, with_spans: bool = True) -> dict[str, Any]:
        out = asdict(self)
        out["spans"] = [s.to_dict() for s in self.spans]
        if not with_spans:
            del out["spans"]
        if not self.meta:
            del out["meta"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            title=str(data.get("title") or ""),
            date=data.get("date"),
            source=str(data.get("source") or ""),
            spans=[Span.from_dict(s) for s in data.get("spans") or []],
            meta=dict(data.get("meta") or {}),
        )
