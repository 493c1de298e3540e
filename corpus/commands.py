"""``vner corpus ...``: ingest articles, print corpus figures, split gold files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from corpus.console import console, err_console, printable, progress_bar
from corpus.gold import read_gold
from corpus.ingest import DEFAULT_MAX_BYTES, expand_paths, ingest
from corpus.jsonl import FormatError, iter_documents, write_documents
from corpus.paths import default_store
from corpus.split import split_documents
from corpus.stats import corpus_stats
from corpus.store import CorpusStore

corpus_app = typer.Typer(help="Corpus store: ingest articles, figures, splits.", no_args_is_help=True)

StoreOption = typer.Option(None, "--store", help="Corpus store (JSON Lines). Default: $VNER_HOME/corpus.jsonl")


@corpus_app.command("ingest")
def ingest_command(
    paths: list[Path] = typer.Argument(..., help="Files or folders: .txt articles, .jsonl, .html"),
    store: Path | None = StoreOption,
    max_mb: float = typer.Option(DEFAULT_MAX_BYTES / 1024 / 1024, help="Refuse files larger than this (MiB)"),
) -> None:
    """Add articles to the corpus store (NFC, stable ids, duplicates skipped)."""
    store_path = store or default_store()
    target = CorpusStore(store_path)
    files = expand_paths(paths)
    with progress_bar() as bar:
        task = bar.add_task("ingesting", total=len(files))
        report = ingest(files, target, int(max_mb * 1024 * 1024), on_file=lambda _: bar.advance(task))
    for problem in report.problems + report.skipped:
        style = {"error": "red", "warning": "yellow"}.get(problem.level, "dim")
        err_console.print(Text(printable(str(problem)), style=style), highlight=False, soft_wrap=True)
    spans = f", {len(report.refused_spans)} spans refused" if report.refused_spans else ""
    console.print(
        Text(
            f"{len(report.added)} added, {len(report.skipped)} already in the store, "
            f"{len(report.refused_documents)} refused{spans} -> {printable(str(store_path))} ({len(target)} documents)"
        )
    )
    if report.errors:
        raise typer.Exit(1)


@corpus_app.command("stats")
def stats_command(
    files: list[Path] = typer.Argument(None, help="Corpus stores or gold files (default: the store)"),
) -> None:
    """Print documents, words, dates covered and entities per label."""
    for path in files or [default_store()]:
        stats = corpus_stats(iter_documents(path))
        table = Table(title=Text(printable(str(path))), show_header=False)
        table.add_row("documents", f"{stats.documents:,}")
        table.add_row("words", f"{stats.words:,}")
        table.add_row("characters", f"{stats.characters:,}")
        months = sorted(stats.dates)
        covered = f"{months[0]} .. {months[-1]} ({len(months)} months)" if months else "none"
        table.add_row("dates", f"{covered}; {stats.undated} undated")
        if stats.annotated:
            table.add_row("annotated documents", f"{stats.annotated:,}")
            for label, count in stats.entities.most_common():
                table.add_row(Text(f"  {printable(label)}"), f"{count:,}")
        console.print(table)


@corpus_app.command("split")
def split_command(
    gold: Path = typer.Argument(..., help="Gold file (JSON Lines) to split by document"),
    out_dir: Path = typer.Option(..., "--out-dir", help="Writes train.jsonl and dev.jsonl here"),
    dev_fraction: float = typer.Option(0.2, help="Share of documents for dev (by a hash of the id)"),
) -> None:
    """Split a gold file into train and dev by a stable hash of each document id."""
    docs = read_gold(gold)
    try:
        train, dev = split_documents(docs, dev_fraction)
    except ValueError as exc:
        raise FormatError(f"{gold}: {exc}") from exc
    write_documents(out_dir / "train.jsonl", train)
    write_documents(out_dir / "dev.jsonl", dev)
    ids = ", ".join(d.id for d in dev)
    console.print(Text(printable(f"train: {len(train)} documents, dev: {len(dev)} ({ids}) -> {out_dir}")))


def register(app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")
