"""``vner predict``: entities of articles as a table, JSON Lines or HTML."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from corpus.console import console, err_console
from corpus.document import Document
from corpus.ingest import IngestError, decode
from corpus.jsonl import FormatError, read_documents
from corpus.text import normalize
from models.card import ModelDirError
from models.predict import predict

FORMATS = ("table", "jsonl")


def _read_inputs(files: list[Path]) -> list[Document]:
    """Documents from JSON Lines files (corpus store or gold), text files, or stdin (``-``), byte for byte."""
    docs = []
    for path in files:
        if str(path) == "-":
            docs.append(Document(id="stdin", text=decode(sys.stdin.buffer.read())[0]))
        elif path.suffix.lower() in (".jsonl", ".ndjson"):
            docs += read_documents(path)
        else:
            docs.append(Document(id=path.name, text=decode(path.read_bytes())[0]))
    return docs


def _table(doc: Document, entities: list[dict]) -> Table:
    table = Table(title=f"{doc.id}: {doc.title or normalize(doc.text[:60])[0].splitlines()[0]}")
    for column in ("start", "end", "label", "text"):
        table.add_column(column, justify="right" if column in ("start", "end") else "left")
    for ent in entities:
        table.add_row(str(ent["start"]), str(ent["end"]), ent["label"], ent["text"])
    return table


def predict_command(
    files: list[Path] = typer.Argument(..., help="Text or JSON Lines files, or - for stdin"),
    model: Path | None = typer.Option(None, help="Model directory (default: $VNER_MODEL or the latest trained)"),
    output_format: str = typer.Option("table", "--format", help=f"One of: {', '.join(FORMATS)}"),
) -> None:
    """Print the entities found in articles."""
    if output_format not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    try:
        docs = _read_inputs(files)
        results = predict([d.text for d in docs], str(model) if model else None)
    except (OSError, IngestError, FormatError, ModelDirError) as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    for doc, entities in zip(docs, results):
        if output_format == "jsonl":
            print(json.dumps({"id": doc.id, "entities": entities}, ensure_ascii=False))
        else:
            console.print(_table(doc, entities))


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root ``vner`` app."""
    app.command("predict")(predict_command)
