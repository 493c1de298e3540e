"""The interface every engine implements: spans for already-normalized texts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from corpus.document import Span
from corpus.schema import LabelSchema
from models.card import ModelMeta


class NerModel(ABC):
    """A loaded model. ``predict_normalized`` sees NFC text with plain whitespace only."""

    engine: str

    def __init__(self, path: Path, meta: ModelMeta, schema: LabelSchema):
        self.path = path
        self.meta = meta
        self.schema = schema

    @property
    def runtime(self) -> str:
        """What executes the model: the engine's own library unless the model directory names another."""
        return self.meta.runtime or self.engine

    @property
    def version(self) -> str:
        """What predictions are labeled with: ``<model dir name>@<created>`` (the name alone when undated)."""
        name = Path(self.path).resolve().name
        return f"{name}@{self.meta.created}" if self.meta.created else name

    @abstractmethod
    def predict_normalized(self, texts: list[str]) -> list[list[Span]]:
        """Spans (offsets into each given text) for a batch of texts."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
