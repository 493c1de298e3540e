"""JSON Lines reading and writing for corpus stores and gold files."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from corpus.document import Document


class FormatError(ValueError):
    """A line of a JSON Lines file is not a valid document."""


def iter_documents(path: str | Path) -> Iterator[Document]:
    """Documents of a JSON Lines file (corpus store or gold file); blank lines are skipped."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield Document.from_dict(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise FormatError(f"{path}:{number}: not a document ({exc})") from exc


def read_documents(path: str | Path) -> list[Document]:
    return list(iter_documents(path))


def write_documents(path: str | Path, docs: Iterable[Document], *, append: bool = False) -> int:
    """Write documents one a line; returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "a" if append else "w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count
