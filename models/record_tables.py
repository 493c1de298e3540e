"""The people and values tables of a corpus, written as CSV, JSON Lines or Parquet.

``vner records --out records.csv`` writes two files beside each other: ``records.people.csv``
(one row per person of a document) and ``records.values.csv`` (one row per FIGURE or TARGET).
Every row starts with ``doc_id``; offsets index the document's text. List columns of the people
table (``posts``, ``mentions``) are lists in JSON Lines and Parquet and JSON text in CSV.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from corpus.document import Document
from models.base import NerModel
from models.predict import DEFAULT_MAX_CHARS, predict

TABLES = ("people", "values")
FORMATS = (".csv", ".jsonl", ".parquet")
PEOPLE_COLUMNS = ("doc_id", "name", "posts", "start", "end", "n_mentions", "mentions")
VALUE_COLUMNS = (
    "doc_id", "start", "end", "text", "kind", "number", "upper", "total", "unit", "qualifier", "base", "indicator",
    "period", "period_start", "period_end",
)
COLUMNS = {"people": PEOPLE_COLUMNS, "values": VALUE_COLUMNS}


def table_paths(out: Path) -> dict[str, Path]:
    """``records.csv`` -> ``records.people.csv`` and ``records.values.csv``."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{out}: --out must end in {', '.join(FORMATS)}")
    return {table: out.with_name(f"{out.stem}.{table}{suffix}") for table in TABLES}


def record_rows(doc_id: str, records: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Flat rows of one document's records (``Records.to_dict()``), one list per table."""
    people = [
        {
            "doc_id": doc_id, "name": p["name"], "posts": list(p["posts"]),
            "start": p["mentions"][0]["start"], "end": p["mentions"][0]["end"], "n_mentions": len(p["mentions"]),
            "mentions": [[m["start"], m["end"]] for m in p["mentions"]],
        }
        for p in records["people"]
    ]
    values = []
    for v in records["values"]:
        period = v.get("period") or {}
        row = {"doc_id": doc_id} | {key: v.get(key) for key in VALUE_COLUMNS if key not in ("doc_id",)}
        row |= {"period": period.get("text"), "period_start": period.get("start"), "period_end": period.get("end")}
        values.append(row)
    return {"people": people, "values": values}


class TableWriter:
    """Streams rows of one table to a CSV, JSON Lines or Parquet file (a context manager)."""

    def __init__(self, path: Path, columns: tuple[str, ...]):
        self.path, self.columns, self.rows = path, columns, 0
        self.suffix = path.suffix.lower()
        self._handle: Any = None
        self._csv: Any = None
        self._parquet: Any = None

    def __enter__(self) -> TableWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.suffix == ".csv":
            self._handle = open(self.path, "w", encoding="utf-8", newline="")
            self._csv = csv.DictWriter(self._handle, fieldnames=self.columns)
            self._csv.writeheader()
        elif self.suffix == ".jsonl":
            self._handle = open(self.path, "w", encoding="utf-8", newline="\n")
        return self

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.rows += len(rows)
        if self.suffix == ".csv":
            self._csv.writerows({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v
                                 for k, v in row.items()} for row in rows)
        elif self.suffix == ".jsonl":
            self._handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            batch = pa.Table.from_pylist(rows, schema=_arrow_schema(self.columns))
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, batch.schema)
            self._parquet.write_table(batch)

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
        if self.suffix == ".parquet":
            if self._parquet is None:  # no rows: an empty table with the columns
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.Table.from_pylist([], schema=_arrow_schema(self.columns)), self.path)
            else:
                self._parquet.close()


def _arrow_schema(columns: tuple[str, ...]) -> Any:
    import pyarrow as pa

    types = {
        "doc_id": pa.string(), "name": pa.string(), "posts": pa.list_(pa.string()), "start": pa.int64(),
        "end": pa.int64(), "n_mentions": pa.int64(), "mentions": pa.list_(pa.list_(pa.int64())),
        "text": pa.string(), "kind": pa.string(), "number": pa.float64(), "upper": pa.float64(),
        "total": pa.float64(), "unit": pa.string(), "qualifier": pa.string(), "base": pa.string(),
        "indicator": pa.string(), "period": pa.string(), "period_start": pa.int64(), "period_end": pa.int64(),
    }
    return pa.schema([(name, types[name]) for name in columns])


def write_tables(
    out: Path, documents: Iterable[tuple[str, dict[str, list[dict[str, Any]]]]]
) -> dict[str, tuple[Path, int]]:
    """Write ``(doc_id, records)`` pairs as the two tables beside ``out``; each table's path and row count."""
    paths = table_paths(out)
    with TableWriter(paths["people"], PEOPLE_COLUMNS) as people, TableWriter(paths["values"], VALUE_COLUMNS) as values:
        for doc_id, records in documents:
            rows = record_rows(doc_id, records)
            people.write(rows["people"])
            values.write(rows["values"])
    return {"people": (people.path, people.rows), "values": (values.path, values.rows)}


def corpus_records(
    docs: Iterable[Document], model: NerModel, batch_size: int = 16, max_chars: int = DEFAULT_MAX_CHARS,
    on_skip: Callable[[Document, str], None] | None = None,
) -> Iterator[tuple[str, dict[str, list[dict[str, Any]]]]]:
    """``(doc id, records)`` of each document, predicted ``batch_size`` at a time; too-long texts are skipped."""
    batch: list[Document] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) >= batch_size:
            yield from _batch_records(batch, model, max_chars, on_skip)
            batch = []
    if batch:
        yield from _batch_records(batch, model, max_chars, on_skip)


def _batch_records(
    batch: list[Document], model: NerModel, max_chars: int, on_skip: Callable[[Document, str], None] | None
) -> Iterator[tuple[str, dict[str, list[dict[str, Any]]]]]:
    fitting = [d for d in batch if len(d.text) <= max_chars]
    for doc in batch:
        if len(doc.text) > max_chars and on_skip:
            on_skip(doc, f"{len(doc.text):,} characters; the limit is {max_chars:,}")
    for doc, result in zip(fitting, predict([d.text for d in fitting], model, max_chars, records=True), strict=True):
        yield doc.id, result["records"]
