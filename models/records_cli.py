"""``vner records``: the people and values tables of a corpus; the tables ``vner predict --records`` prints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from corpus.console import console, err_console, fail, printable, progress_bar
from corpus.document import Document
from corpus.jsonl import FormatError, iter_documents
from models.card import ModelDirError
from models.loading import load_model
from models.predict import DEFAULT_MAX_CHARS
from models.record_tables import corpus_records, table_paths, write_tables


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:,}".replace(",", " ") if isinstance(value, int) or float(value).is_integer() else f"{value:g}"


def records_tables(doc: Document, answer: dict[str, Any]) -> list[Table]:
    """The people and values of one ``predict(..., records=True)`` answer as terminal tables."""
    people = Table(title=Text(printable(f"{doc.id}: people")))
    for column in ("name", "posts", "mentions"):
        people.add_column(column)
    for person in answer["records"]["people"]:
        mentions = ", ".join(f"{m['start']}-{m['end']}" for m in person["mentions"])
        people.add_row(Text(printable(person["name"])), Text(printable("; ".join(person["posts"]))), mentions)
    values = Table(title=Text(printable(f"{doc.id}: values")))
    for column in ("start", "kind", "number", "unit", "qualifier", "base", "indicator", "period", "text"):
        values.add_column(column, justify="right" if column in ("start", "number") else "left")
    for value in answer["records"]["values"]:
        number = _number(value["number"])
        number += f"–{_number(value['upper'])}" if value["upper"] is not None else ""
        number += f"/{_number(value['total'])}" if value["total"] is not None else ""
        values.add_row(
            str(value["start"]), value["kind"], number,
            *(Text(printable(value[key] or "")) for key in ("unit", "qualifier", "base", "indicator")),
            Text(printable((value["period"] or {}).get("text", ""))), Text(printable(value["text"])),
        )
    return [people, values]


def records_command(
    corpus: Path = typer.Option(..., "--corpus", help="Corpus store or gold file (JSON Lines) to read the articles of"),
    out: Path = typer.Option(
        ..., "--out", help="records.csv, records.jsonl or records.parquet: writes records.people.* and records.values.*"
    ),
    model: Path | None = typer.Option(None, help="Model directory (default: $VNER_MODEL or the latest trained)"),
    batch_size: int = typer.Option(16, min=1, help="Documents per model call"),
    max_chars: int = typer.Option(DEFAULT_MAX_CHARS, min=1, help="Skip (with a warning) longer texts"),
) -> None:
    """Write the people and values tables of every document of a corpus (CSV, JSON Lines or Parquet).

    Columns (models/record_tables.py) start with doc_id; offsets index each document's text.
    """
    try:
        paths = table_paths(out)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from exc
    if corpus.resolve() in {p.resolve() for p in paths.values()}:
        raise typer.BadParameter("--out would overwrite the corpus", param_hint="--out")
    try:
        loaded = load_model(str(model) if model else None)
        total = sum(1 for _ in iter_documents(corpus))
        with progress_bar() as bar:
            task = bar.add_task(f"records {corpus.name}", total=total)

            def skipped(doc: Document, reason: str) -> None:
                err_console.print(f"[yellow]{printable(doc.id)}: skipped, {reason}[/]", highlight=False)
                bar.advance(task)

            def counted() -> Iterator[tuple[str, dict[str, Any]]]:
                for doc_id, records in corpus_records(iter_documents(corpus), loaded, batch_size, max_chars, skipped):
                    bar.advance(task)
                    yield doc_id, records

            written = write_tables(out, counted())
    except (OSError, FormatError, ModelDirError) as exc:
        fail(exc)
    (people, n_people), (values, n_values) = written["people"], written["values"]
    console.print(f"{n_people} people -> {people}\n{n_values} values -> {values}", highlight=False, soft_wrap=True)
