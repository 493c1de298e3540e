"""Gold files, read and checked in one place for every command that uses them.

:func:`read_gold` reads a gold JSON Lines file and refuses it (:class:`GoldError`) unless every
line is a document whose spans follow the label schema and the span rules: known labels, offsets
inside the text, no overlap, no whitespace or punctuation at an edge, no letter cut from its
combining mark (:func:`corpus.spans.span_problem`), ids not repeated, at least one document.

Each check of a document is a function ``(document, schema) -> reasons`` in :data:`CHECKS`;
checks of other annotation layers (relations) are added there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from corpus.document import Document
from corpus.jsonl import FormatError, LineError, iter_lines, parse_document
from corpus.relations import relation_problems
from corpus.schema import LabelSchema, load_schema
from corpus.spans import validate_spans


@dataclass(frozen=True)
class GoldProblem:
    """One problem of a gold file: where (file, line) and why."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}" if self.line else f"{self.path}: {self.reason}"


class GoldError(FormatError):
    """A gold file that cannot be used. ``problems`` lists all; the message gives the first and a count."""

    def __init__(self, problems: list[GoldProblem]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


DocumentCheck = Callable[[Document, LabelSchema], list[str]]


def span_problems(doc: Document, schema: LabelSchema) -> list[str]:
    """Each span that breaks the schema or the span rules, with its offsets as written and the reason."""
    _, problems = validate_spans(doc.text, doc.spans, schema)
    return [f"span {problem}" for problem in problems]


CHECKS: list[DocumentCheck] = [span_problems, relation_problems]


def document_problems(doc: Document, schema: LabelSchema) -> list[str]:
    """Every reason ``doc`` is not valid gold under ``schema`` (empty when it is)."""
    return [reason for check in CHECKS for reason in check(doc, schema)]


def validate_gold(
    docs: Iterable[Document],
    schema: LabelSchema | None = None,
    origin: str = "gold",
    lines: Iterable[int] | None = None,
) -> None:
    """Raise :class:`GoldError` unless ``docs`` are valid gold; ``lines`` numbers them (default: 1, 2, ...)."""
    schema = schema or load_schema()
    problems: list[GoldProblem] = []
    first_line: dict[str, int] = {}
    numbers = iter(lines) if lines is not None else None
    count = 0
    for count, doc in enumerate(docs, 1):
        line = next(numbers) if numbers is not None else count
        if doc.id in first_line:
            problems.append(
                GoldProblem(origin, line, f"id {doc.id!r} repeats the document of line {first_line[doc.id]}")
            )
        first_line.setdefault(doc.id, line)
        problems += [
            GoldProblem(origin, line, f"document {doc.id}: {reason}") for reason in document_problems(doc, schema)
        ]
    if not count:
        problems.append(GoldProblem(origin, None, "no documents (empty file)"))
    if problems:
        raise GoldError(problems)


def read_gold(path: str | Path, schema: LabelSchema | None = None) -> list[Document]:
    """The documents of gold file ``path``, or :class:`GoldError` listing every problem with file and line."""
    docs: list[Document] = []
    numbers: list[int] = []
    unreadable: list[GoldProblem] = []
    try:
        for number, line, _ in iter_lines(path):
            try:
                docs.append(parse_document(line, f"{path}:{number}"))
                numbers.append(number)
            except ValueError as exc:
                unreadable.append(GoldProblem(str(path), number, str(exc)))
    except LineError as exc:
        raise GoldError([GoldProblem(exc.path, exc.line, exc.reason)]) from exc
    except OSError as exc:
        raise GoldError([GoldProblem(str(path), None, f"cannot read: {exc.strerror or exc}")]) from exc
    try:
        validate_gold(docs, schema, str(path), numbers)
    except GoldError as exc:
        if not (unreadable and not docs):  # an unreadable file is not also "empty"
            unreadable += exc.problems
    if unreadable:
        raise GoldError(sorted(unreadable, key=lambda p: p.line or 0))
    return docs
