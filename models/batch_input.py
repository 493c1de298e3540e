"""The input of a batch job: JSON Lines and Parquet files cut into partitions of documents.

:func:`plan_partitions` reads every id once in the starting process (checking each line, so a bad
line stops the job before any work, with file and line) and describes each partition by byte
ranges of whole lines (JSON Lines) or row ranges (Parquet); a worker reads its partition itself
with :func:`read_partition`. A document whose id came earlier in the input is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any

from corpus.document import Document
from corpus.jsonl import FormatError, LineError, parse_document

INPUT_KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class Segment:
    """Consecutive documents of one input file: a byte range of whole lines, or a Parquet row range."""

    path: str
    kind: str  # "jsonl" or "parquet"
    start: int
    stop: int
    first_line: int  # JSON Lines: the line number at ``start``, for messages


@dataclass(frozen=True)
class Partition:
    index: int
    segments: tuple[Segment, ...]
    documents: int
    skip: frozenset[int] = frozenset()  # positions (in this partition) of ids seen earlier in the input


@dataclass(frozen=True)
class Plan:
    inputs: list[dict[str, Any]]  # path, size, mtime_ns of each input file: a resumed run needs the same
    partitions: list[Partition]
    documents: int
    repeated: int


@dataclass(frozen=True)
class RowError:
    """A document that could not be predicted, and why."""

    id: str
    error: str


def input_files(specs: Sequence[str | Path]) -> list[Path]:
    """The JSON Lines and Parquet files named by files, globs and directories (searched recursively)."""
    files: list[Path] = []
    for spec in specs:
        text, path = str(spec), Path(spec)
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if _is_input(p, path)]
        elif any(char in text for char in "*?["):
            found = [Path(p) for p in sorted(glob(text, recursive=True)) if _is_input(Path(p))]
        elif path.is_file():
            if path.suffix.lower() not in INPUT_KINDS:
                raise FormatError(f"{path}: give JSON Lines (.jsonl, .ndjson) or Parquet (.parquet) files")
            found = [path]
        else:
            raise FormatError(f"{text}: no such file or directory")
        if not found:
            raise FormatError(f"{text}: no .jsonl, .ndjson or .parquet files there")
        files += found
    unique = {p.resolve(): p for p in files}  # the same file named twice is read once
    return list(unique.values())


def _is_input(path: Path, root: Path | None = None) -> bool:
    parts = path.relative_to(root).parts if root else (path.name,)
    hidden = any(part.startswith((".", "_")) for part in parts)  # Parquet datasets' own metadata files
    return path.is_file() and path.suffix.lower() in INPUT_KINDS and not hidden


def parse_line(raw: bytes, path: str | Path, number: int) -> Document:
    """The document on one JSON Lines line, or a LineError naming the file and line."""
    try:
        text = raw.rstrip(b"\r\n").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(
            path, number, f"not UTF-8 text (byte {exc.start + 1} of the line); JSON Lines files must be UTF-8"
        ) from exc
    try:
        return parse_document(text.removeprefix("\ufeff") if number == 1 else text, f"{path}:{number}")
    except ValueError as exc:
        raise LineError(path, number, str(exc)) from exc


def _jsonl_rows(path: Path) -> Iterator[tuple[int, int, int, str]]:
    """(first byte, end byte, line number, id) of each document line."""
    with open(path, "rb") as handle:
        offset = 0
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                yield offset, offset + len(raw), number, parse_line(raw, path, number).id
            offset += len(raw)


def _parquet_file(path: str | Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"{path}: not a Parquet file ({exc})") from exc
    missing = {"id", "text"} - set(parquet.schema_arrow.names)
    if missing:
        raise FormatError(f"{path}: no {' or '.join(sorted(missing))} column (Parquet input needs id and text)")
    return parquet


def _parquet_rows(path: Path) -> Iterator[tuple[int, int, int, str]]:
    """(row, row + 1, row number, id) of each row."""
    row = 0
    for batch in _parquet_file(path).iter_batches(columns=["id"]):
        for value in batch.column(0).to_pylist():
            if value is None or str(value) == "":
                raise FormatError(f"{path}: row {row + 1}: no id")
            yield row, row + 1, row + 1, str(value)
            row += 1


def plan_partitions(files: Sequence[Path], partition_size: int) -> Plan:
    """Read every id once (checking each line), then cut the input into partitions of ``partition_size``."""
    if partition_size < 1:
        raise ValueError("partition_size must be at least 1")
    partitions: list[Partition] = []
    seen: set[str] = set()
    segments: list[Segment] = []
    skip: set[int] = set()
    count, repeated = 0, 0
    inputs = []
    for path in files:
        stat = path.stat()
        inputs.append({"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
        kind = INPUT_KINDS[path.suffix.lower()]
        for start, stop, number, ident in (_jsonl_rows if kind == "jsonl" else _parquet_rows)(path):
            if count == partition_size:
                partitions.append(Partition(len(partitions), tuple(segments), count, frozenset(skip)))
                segments, skip, count = [], set(), 0
            if segments and segments[-1].path == str(path):
                segments[-1] = Segment(str(path), kind, segments[-1].start, stop, segments[-1].first_line)
            else:
                segments.append(Segment(str(path), kind, start, stop, number))
            if ident in seen:
                skip.add(count)
                repeated += 1
            seen.add(ident)
            count += 1
    if count:
        partitions.append(Partition(len(partitions), tuple(segments), count, frozenset(skip)))
    return Plan(inputs, partitions, len(seen) + repeated, repeated)


def read_partition(part: Partition) -> Iterator[Document | RowError]:
    """The partition's documents in input order (ids already seen earlier in the input left out)."""
    position = 0
    for segment in part.segments:
        for item in _read_segment(segment):
            if position not in part.skip:
                yield item
            position += 1


def _read_segment(segment: Segment) -> Iterator[Document | RowError]:
    if segment.kind == "jsonl":
        with open(segment.path, "rb") as handle:
            handle.seek(segment.start)
            data = handle.read(segment.stop - segment.start)
        for number, raw in enumerate(data.split(b"\n"), segment.first_line):
            if raw.strip():
                yield parse_line(raw, segment.path, number)
        return
    parquet = _parquet_file(segment.path)
    groups: list[int] = []
    first, offset = 0, 0
    for group in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if offset < segment.stop and offset + rows > segment.start:
            first = first if groups else offset
            groups.append(group)
        offset += rows
    table = parquet.read_row_groups(groups, columns=["id", "text"])
    for record in table.slice(segment.start - first, segment.stop - segment.start).to_pylist():
        ident, text = str(record["id"]), record["text"]
        yield Document(ident, text) if isinstance(text, str) else RowError(ident, "no text (null)")
