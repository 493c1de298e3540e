"""The rules engine as a model: :class:`Rules` runs every rule family, :class:`RulesModel` serves them."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path

from corpus.document import Span
from corpus.schema import LabelSchema, load_schema
from models.base import NerModel
from models.card import ModelMeta
from models.rules.candidates import Candidate, resolve, trim
from models.rules.document import document_candidates
from models.rules.lexicon import DATA_DIR, WordLists, tokenize
from models.rules.patterns import NumberDateRules
from models.rules.phrases import PhraseRules

ENGINE = "rules"
DEFAULT_CONFIDENCE = 0.5


class Rules:
    """All word lists and rules, loaded once from ``data_dir``."""

    def __init__(self, data_dir: Path = DATA_DIR):
        self.words = WordLists(data_dir)
        self.numbers_dates = NumberDateRules(self.words)
        self.phrases = PhraseRules(self.words)

    def candidates(self, text: str) -> list[Candidate]:
        """Every candidate of every rule, before overlaps are resolved."""
        cands = self.numbers_dates.figures(text) + self.numbers_dates.dates(text)
        lines = tokenize(text)
        for toks in lines:
            cands += self.phrases.scan_line(toks)
        cands += document_candidates(self.phrases, text, lines, cands)
        return [c for c in (trim(text, c) for c in cands) if c is not None]

    def spans(self, text: str, labels: Iterable[str] | None = None) -> list[Span]:
        """Resolved entities of ``text`` (only ``labels`` when given), scored by rule."""
        allowed = set(labels) if labels is not None else None
        cands = [c for c in self.candidates(text) if allowed is None or c.label in allowed]
        return [
            Span(c.start, c.end, c.label, self.words.confidence.get(c.rule, DEFAULT_CONFIDENCE)) for c in resolve(cands)
        ]


class RulesModel(NerModel):
    """Rule-based pre-annotation. ``path`` is the word-list folder (default: the bundled one)."""

    engine = ENGINE
    thread_safe = True  # read-only after construction

    def __init__(
        self, path: str | Path | None = None, meta: ModelMeta | None = None, schema: LabelSchema | None = None
    ):
        schema = schema or load_schema()
        data_dir = Path(path) if path is not None and (Path(path) / "titles.txt").is_file() else DATA_DIR
        super().__init__(data_dir, meta or ModelMeta(engine=ENGINE, schema=schema), schema)
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
