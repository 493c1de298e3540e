"""The corpus store: a JSON Lines file of documents with unique ids and unique texts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from corpus.document import Document
from corpus.jsonl import iter_documents, write_documents


def content_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def content_id(text: str) -> str:
    """A stable id derived from the (normalized) text alone."""
    return "doc-" + content_hash(text)[:16]


@dataclass(frozen=True)
class AddResult:
    added: bool
    reason: str = ""


class CorpusStore:
    """Appends documents to ``path``, refusing repeated ids and repeated texts."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ids: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        if self.path.exists():
            for doc in iter_documents(self.path):
                self._remember(doc)

    def _remember(self, doc: Document) -> None:
        digest = content_hash(doc.text)
        self._ids[doc.id] = digest
        self._texts.setdefault(digest, doc.id)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._ids

    def add(self, doc: Document) -> AddResult:
        """Append ``doc`` unless its text or id is already stored."""
        digest = content_hash(doc.text)
        if digest in self._texts:
            return AddResult(False, f"duplicate of {self._texts[digest]}")
        if doc.id in self._ids:
            return AddResult(False, f"id {doc.id} is already used by a different text")
        write_documents(self.path, [doc], append=True)
        self._remember(doc)
        return AddResult(True)
