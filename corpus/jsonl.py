"""JSON Lines reading and writing for corpus stores and gold files (UTF-8, one document a line)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from corpus.document import Document
from corpus.errors import InputWarning, UserError
from corpus.text import replace_lone_surrogates


class FormatError(UserError, ValueError):
    """A file or a line of it is not what it should be; the message names the file (and line)."""


class LineError(FormatError):
    """Line ``line`` of ``path`` cannot be read, for ``reason``."""

    def __init__(self, path: str | Path, line: int, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        super().__init__(f"{path}:{line}: {reason}")


def iter_lines(path: str | Path) -> Iterator[tuple[int, str, bool]]:
    """``(line number, line, is the last line and cut short)`` of each non-blank line, decoded as UTF-8.

    A UTF-8 byte order mark at the start is skipped; other encodings (UTF-16, legacy code pages)
    are refused with the file and line.
    """
    with open(path, "rb") as handle:
        raw = handle.readline()
        number = 1
        while raw:
            following = handle.readline()
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                utf16 = " (it looks like UTF-16: save it as UTF-8)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
                reason = f"not UTF-8 text (byte {exc.start + 1} of the line){utf16}; JSON Lines files must be UTF-8"
                raise LineError(path, number, reason) from exc
            if number == 1:
                line = line.removeprefix("\ufeff")
            if line.strip():
                yield number, line, not following and not raw.endswith(b"\n")
            raw, number = following, number + 1


def clean_strings(value: Any) -> tuple[Any, int]:
    """``value`` (parsed JSON) with lone surrogates in its strings replaced by U+FFFD; and how many."""
    if isinstance(value, str):
        return replace_lone_surrogates(value)
    if isinstance(value, list):
        items = [clean_strings(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    if isinstance(value, dict):
        pairs = [(clean_strings(k), clean_strings(v)) for k, v in value.items()]
        return {k: v for (k, _), (v, _) in pairs}, sum(a + b for (_, a), (_, b) in pairs)
    return value, 0


def parse_record(line: str, where: str) -> dict[str, Any]:
    """The JSON object on ``line``; lone surrogates replaced (with an :class:`InputWarning` naming ``where``)."""
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError(f"a JSON {type(record).__name__}, not an object")
    if "\\ud" in line or "\\uD" in line:  # surrogates come only from escapes: "\\ud800"
        record, count = clean_strings(record)
        if count:
            warnings.warn(
                f"{where}: {count} lone surrogate{'s' if count > 1 else ''} (invalid Unicode) replaced by U+FFFD; "
                "offsets do not move",
                InputWarning,
                stacklevel=2,
            )
    return record


def parse_document(line: str, where: str) -> Document:
    """The document on one line; ValueError (with the reason) when it is not one."""
    try:
        return Document.from_dict(parse_record(line, where))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from exc
    except KeyError as exc:
        raise ValueError(f"no {exc} field") from exc
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"not a document ({exc})") from exc


def iter_documents(path: str | Path) -> Iterator[Document]:
    """Documents of a JSON Lines file (corpus store or gold file); blank lines are skipped."""
    for number, line, cut_short in iter_lines(path):
        try:
            yield parse_document(line, f"{path}:{number}")
        except ValueError as exc:
            if cut_short:
                reason = f"the last line is incomplete (cut off by an interrupted write?): {exc}; remove or repair it"
                raise LineError(path, number, reason) from exc
            raise LineError(path, number, str(exc)) from exc


def read_documents(path: str | Path) -> list[Document]:
    return list(iter_documents(path))


def write_documents(path: str | Path, docs: Iterable[Document], *, append: bool = False) -> int:
    """Write documents one a line; returns how many were written.

    Appending to a file whose last line lacks its line break adds the break first, so no two
    documents ever share a line.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "a+b" if append else "wb") as handle:
        if append and handle.tell() > 0:
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        for doc in docs:
            handle.write((json.dumps(doc.to_dict(), ensure_ascii=False) + "\n").encode("utf-8"))
            count += 1
    return count
