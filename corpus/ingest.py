"""Read articles (plain text, JSON Lines, HTML) into normalized :class:`Document` records.

Every problem is reported with the file (and line) it came from; one bad file never stops a batch.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charset_normalizer

from corpus.document import Document, Span
from corpus.errors import UserError
from corpus.jsonl import clean_strings
from corpus.schema import LabelSchema, load_schema
from corpus.spans import offset_problem, validate_spans
from corpus.store import CorpusStore, content_id
from corpus.text import OffsetMap, normalize, old_style_tone_marks

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
_DATE_PREFIX = re.compile(r"^\s*date\s+(\d{4}-\d{2}(?:-\d{2})?)\s+")
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_HTML_START = re.compile(rb"^\s*(<!doctype html|<html|<head|<body)", re.I)


class IngestError(UserError, ValueError):
    """A file or line cannot become a document; the message says why."""


@dataclass(frozen=True)
class Problem:
    where: str
    message: str
    level: str = "error"  # "error": nothing stored from there; "warning": stored, with a caveat
    kind: str = "document"  # what was refused: a file or line ("document") or one of its spans ("span")

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)  # duplicates
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def refused_documents(self) -> list[Problem]:
        return [p for p in self.errors if p.kind == "document"]

    @property
    def refused_spans(self) -> list[Problem]:
        return [p for p in self.errors if p.kind == "span"]


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus the non-hidden files under named directories, sorted."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            files.append(path)
    return files


def decode(raw: bytes) -> tuple[str, str]:
    """Decode bytes as UTF-8 if they are, else as the detected encoding; returns (text, encoding)."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return raw.decode(encoding), encoding
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        guess = charset_normalizer.from_bytes(raw).best()
        if guess is None:
            raise IngestError(
                f"not UTF-8 (invalid byte at offset {exc.start}) and no text encoding fits: binary or corrupt file"
            ) from exc
        text, encoding = str(guess), guess.encoding
    if len(_CONTROL.findall(text)) > max(2, len(text) // 1000):
        raise IngestError(f"looks binary: control characters in the {encoding} text")
    return text, encoding


def _clean(text: str, where: str, problems: list[Problem]) -> tuple[str, list[str]]:
    """NFC and newline normalization of a whole article (spaces kept); returns text and the steps applied."""
    normalized, _ = normalize(text.strip(), spaces=False)
    steps = []
    if normalized != text.strip():
        steps.append("nfc+newlines")
    old = old_style_tone_marks(normalized)
    if old:
        steps.append("old-style tone marks kept")
        problems.append(Problem(where, f"{len(old)} old-style tone marks kept as found (e.g. {old[0]!r})", "warning"))
    return normalized, steps


def _meta(path: Path, raw: bytes, encoding: str, steps: list[str], text: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"path": str(path), "sha256": hashlib.sha256(raw).hexdigest(), "encoding": encoding}
    if steps:
        meta["normalized"] = steps
    old = old_style_tone_marks(text)
    if old:
        meta["old_style_tone_marks"] = sorted(set(old))
    return meta


def _plain(path: Path, raw: bytes, text: str, encoding: str, problems: list[Problem]) -> Iterator[Document]:
    date = None
    match = _DATE_PREFIX.match(text)
    if match:
        date, text = match.group(1), text[match.end() :]
    body, steps = _clean(text, str(path), problems)
    if not body:
        raise IngestError("no text after the date line")
    title = body.split("\n", 1)[0].strip()
    yield Document(
        id=content_id(body),
        text=body,
        title=title,
        date=date,
        source=path.name,
        meta=_meta(path, raw, encoding, steps, body),
    )


def _html(path: Path, raw: bytes, text: str, encoding: str, problems: list[Problem]) -> Iterator[Document]:
    from lxml import html as lxml_html
    from readability import Document as Readable

    readable = Readable(text)
    tree = lxml_html.fromstring(readable.summary(html_partial=True))
    blocks = [" ".join(el.text_content().split()) for el in tree.iter("p", "h1", "h2", "h3", "h4", "li", "blockquote")]
    text = "\n\n".join(b for b in blocks if b) or " ".join(tree.text_content().split())
    body, steps = _clean(text, str(path), problems)
    if not body:
        raise IngestError("HTML page has no readable main text")
    title, _ = normalize(" ".join(readable.short_title().split()))
    yield Document(
        id=content_id(body),
        text=body,
        title=title,
        source=path.name,
        meta=_meta(path, raw, encoding, steps + ["html"], body),
    )


def _jsonl(path: Path, raw: bytes, text: str, encoding: str, problems: list[Problem]) -> Iterator[Document]:
    schema = load_schema()
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines(): JSON strings may hold U+2028
        where = f"{path}:{number}"
        if not line.strip():
            continue
        try:
            record, replaced = clean_strings(json.loads(line))
            if not isinstance(record, dict):
                raise TypeError(f"a JSON {type(record).__name__}, not an object")
            fields = Document.from_dict(
                {key: record.get(key) for key in ("title", "date", "source")}
                | {"id": record.get("id") or "-", "text": record["text"]}
            )
        except json.JSONDecodeError as exc:
            problems.append(Problem(where, f"not JSON: {exc}"))
            continue
        except KeyError as exc:
            problems.append(Problem(where, f"not a document: no {exc} field"))
            continue
        except (TypeError, ValueError) as exc:
            problems.append(Problem(where, f"not a document: {exc}"))
            continue
        if replaced:
            problems.append(
                Problem(
                    where,
                    f"{replaced} lone surrogate{'s' if replaced > 1 else ''} (invalid Unicode) replaced by U+FFFD",
                    "warning",
                )
            )
        original = fields.text
        body, offsets = normalize(original, spaces=False)
        if not body.strip():
            problems.append(Problem(where, "empty text"))
            continue
        spans = _spans(record.get("spans"), original, body, offsets, schema, where, problems)
        steps = ["nfc+newlines"] if body != original else []
        meta = _meta(path, line.encode("utf-8"), encoding, steps, body) | {"line": number}
        yield Document(
            id=str(record.get("id") or content_id(body)),
            text=body,
            title=fields.title,
            date=fields.date,
            source=fields.source or path.name,
            spans=spans,
            meta=meta,
        )


def _spans(
    items: object,
    original: str,
    body: str,
    offsets: OffsetMap,
    schema: LabelSchema,
    where: str,
    problems: list[Problem],
) -> list[Span]:
    """The valid spans of a record, moved onto the normalized text; each other one is refused with its
    offsets as written (never clamped or rounded)."""
    if items is None:
        return []
    if not isinstance(items, list):
        problems.append(
            Problem(where, f"spans refused: 'spans' must be a list, not {type(items).__name__}", kind="span")
        )
        return []
    written: dict[Span, Span] = {}
    for item in items:
        try:
            span = Span.from_dict(item)
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"no {exc} field" if isinstance(exc, KeyError) else str(exc)
            problems.append(
                Problem(where, f"span {json.dumps(item, ensure_ascii=False)} refused: {reason}", kind="span")
            )
            continue
        outside = offset_problem(span.start, span.end, len(original))
        if outside is not None:
            problems.append(
                Problem(where, f"span [{span.start}:{span.end}] {span.label} refused: {outside}", kind="span")
            )
            continue
        written[Span(*offsets.to_normalized(span.start, span.end), span.label)] = span
    valid, invalid = validate_spans(body, list(written), schema)
    for problem in invalid:
        span = written[problem.span]
        problems.append(
            Problem(where, f"span [{span.start}:{span.end}] {span.label} refused: {problem.reason}", kind="span")
        )
    return valid


def read_file(path: Path, problems: list[Problem], max_bytes: int = DEFAULT_MAX_BYTES) -> list[Document]:
    """Documents in one file; raises :class:`IngestError` when the whole file is unusable."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"{size / 1e6:.1f} MB is over the {max_bytes / 1e6:.1f} MB limit per file (--max-mb)")
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise IngestError("empty file")
    text, encoding = decode(raw)
    if encoding not in ("utf-8", "utf-8-sig"):
        problems.append(Problem(str(path), f"not UTF-8: decoded as {encoding}", "warning"))
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        reader = _jsonl
    elif path.suffix.lower() in (".html", ".htm") or _HTML_START.match(raw[:512]):
        reader = _html
    else:
        reader = _plain
    return list(reader(path, raw, text, encoding, problems))


def ingest(
    paths: Iterable[str | Path], store: CorpusStore, max_bytes: int = DEFAULT_MAX_BYTES, on_file=None
) -> IngestReport:
    """Read every file under ``paths`` into ``store``; ``on_file(path)`` is called after each file."""
    report = IngestReport()
    for path in expand_paths(paths):
        if not path.exists():
            report.problems.append(Problem(str(path), "no such file"))
            continue
        try:
            docs = read_file(path, report.problems, max_bytes)
        except IngestError as exc:
            report.problems.append(Problem(str(path), str(exc)))
            docs = []
        for doc in docs:
            result = store.add(doc)
            if result.added:
                report.added.append(doc.id)
            else:
                report.skipped.append(Problem(doc.meta.get("path", str(path)), result.reason, "skipped"))
        if on_file:
            on_file(path)
    return report
