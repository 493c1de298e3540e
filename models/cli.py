"""``vner predict``: entities of articles as a table, JSON Lines or HTML; ``vner serve``: the HTTP API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from corpus.console import console, err_console, fail, printable, progress_bar
from corpus.document import Document
from corpus.ingest import IngestError, decode
from corpus.jsonl import FormatError, iter_documents, read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.text import normalize
from models.base import NerModel
from models.card import ModelDirError
from models.loading import load_model
from models.onnx_export import DEFAULT_OPSET
from models.predict import DEFAULT_MAX_CHARS, TextTooLongError, predict

FORMATS = ("table", "jsonl", "html")
BATCH_SIZE = 16


def _read_inputs(files: list[Path]) -> list[Document]:
    """Documents from JSON Lines files (corpus store or gold), text files, or stdin (``-``), byte for byte."""
    docs = []
    for path in files:
        if str(path) == "-":
            raw, name = sys.stdin.buffer.read(), "stdin"
        elif path.suffix.lower() in (".jsonl", ".ndjson"):
            docs += read_documents(path)
            continue
        else:
            raw, name = path.read_bytes(), path.name
        where = "stdin" if name == "stdin" else path
        if not raw.strip():
            raise FormatError(f"{where}: empty input, nothing to predict")
        try:
            docs.append(Document(id=name, text=decode(raw)[0]))
        except IngestError as exc:
            raise FormatError(f"{where}: {exc}") from exc
    return docs


def _table(doc: Document, entities: list[dict]) -> Table:
    """The entities of ``doc`` as a terminal table; control characters of the article are shown escaped."""
    first_line = next(iter(normalize(doc.text[:60])[0].strip().splitlines()), "")
    table = Table(title=Text(printable(f"{doc.id}: {doc.title or first_line}")))
    for column in ("start", "end", "label", "text"):
        table.add_column(column, justify="right" if column in ("start", "end") else "left")
    for ent in entities:
        table.add_row(str(ent["start"]), str(ent["end"]), Text(printable(ent["label"])), Text(printable(ent["text"])))
    return table


def _html(docs: list[Document], results: list[list[dict]], model: NerModel) -> str:
    from models.html_view import render_page

    pages = [(f"{d.id}: {d.title}" if d.title else d.id, d.text, ents) for d, ents in zip(docs, results)]
    count = f"{len(docs)} document" + ("" if len(docs) == 1 else "s")
    return render_page(pages, model.schema, page_title=f"vner predictions ({count})")


# ---------------------------------------------------------------- batch mode over a corpus store


def _done_ids(out: Path) -> set[str]:
    """Ids already in a prediction file; a last line cut short by an interrupted run is removed."""
    done: set[str] = set()
    if not out.exists():
        return done
    with open(out, "rb+") as handle:
        good_end, number = 0, 0
        while raw := handle.readline():
            number += 1
            if raw.strip():
                try:
                    record = json.loads(raw)
                    ident = record["id"]
                    if not isinstance(ident, str) or not isinstance(record.get("entities"), list):
                        raise TypeError("no id or entities")
                except (ValueError, KeyError, TypeError) as exc:
                    if handle.read(1):
                        raise FormatError(f"{out}:{number}: not a prediction line ({exc})") from exc
                    err_console.print(f"[yellow]{out}:{number}: incomplete last line removed (interrupted run)[/]")
                    handle.truncate(good_end)
                    break
                done.add(ident)
                if not raw.endswith(b"\n"):
                    handle.write(b"\n")
                    raw += b"\n"
            good_end += len(raw)
    return done


def _count_documents(store: Path) -> int:
    with open(store, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _predict_each(docs: list[Document], model: NerModel, max_chars: int) -> Iterator[tuple[Document, list | None]]:
    """Predictions for a batch; a text over ``max_chars`` gets None (and a warning) instead of failing the batch."""
    try:
        yield from zip(docs, predict([d.text for d in docs], model, max_chars))
        return
    except TextTooLongError:
        pass
    for doc in docs:
        try:
            yield doc, predict(doc.text, model, max_chars)
        except TextTooLongError as exc:
            err_console.print(f"[yellow]{doc.id}: skipped, {exc}[/]")
            yield doc, None


def predict_corpus(
    store: Path, out: Path, model: NerModel, batch_size: int = BATCH_SIZE, max_chars: int = DEFAULT_MAX_CHARS
) -> dict[str, int]:
    """Append ``{"id", "entities"}`` for every document of ``store`` whose id is not yet in ``out``.

    Streams the store (memory does not grow with its size), predicts ``batch_size`` documents at a
    time and flushes after each batch, so an interrupted run resumes where it stopped.
    """
    if out.exists() and out.resolve() == store.resolve():
        raise FormatError("--out must not be the corpus store itself")
    done = _done_ids(out)
    total = _count_documents(store)
    counts = {"predicted": 0, "skipped": 0, "too_long": 0}
    out.parent.mkdir(parents=True, exist_ok=True)
    with progress_bar() as bar, open(out, "a", encoding="utf-8", newline="\n") as sink:
        task = bar.add_task(f"predict {store.name}", total=total)

        def run(batch: list[Document]) -> None:
            for doc, entities in _predict_each(batch, model, max_chars):
                if entities is None:
                    counts["too_long"] += 1
                    continue
                sink.write(json.dumps({"id": doc.id, "entities": entities}, ensure_ascii=False) + "\n")
                counts["predicted"] += 1
            sink.flush()
            bar.advance(task, len(batch))

        batch: list[Document] = []
        for doc in iter_documents(store):
            if doc.id in done:  # already predicted, or a repeated id in the store
                counts["skipped"] += 1
                bar.advance(task)
                continue
            done.add(doc.id)
            batch.append(doc)
            if len(batch) >= batch_size:
                run(batch)
                batch = []
        if batch:
            run(batch)
    return counts


# ---------------------------------------------------------------- commands


def predict_command(
    files: list[Path] | None = typer.Argument(None, help="Text or JSON Lines files, or - for stdin"),
    model: Path | None = typer.Option(None, help="Model directory (default: $VNER_MODEL or the latest trained)"),
    output_format: str | None = typer.Option(
        None, "--format", help=f"One of: {', '.join(FORMATS)} (default: table; jsonl with --corpus)"
    ),
    out: Path | None = typer.Option(None, "--out", help="Write jsonl or html here instead of stdout"),
    corpus: Path | None = typer.Option(
        None, "--corpus", help="Predict every document of this corpus store into --out (JSON Lines); "
        "documents already in --out are skipped, so an interrupted run can be resumed"
    ),
    batch_size: int = typer.Option(BATCH_SIZE, min=1, help="Documents per model call with --corpus"),
    max_chars: int = typer.Option(DEFAULT_MAX_CHARS, min=1, help="Refuse (with --corpus: skip) longer texts"),
) -> None:
    """Print the entities found in articles, or predict a whole corpus store into a file."""
    fmt = output_format or ("jsonl" if corpus else "table")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if corpus is not None:
        if files:
            raise typer.BadParameter("give either files or --corpus, not both", param_hint="--corpus")
        if fmt != "jsonl":
            raise typer.BadParameter("--corpus writes JSON Lines only", param_hint="--format")
        if out is None:
            raise typer.BadParameter("--corpus needs --out FILE.jsonl (the file to append to and resume from)",
                                     param_hint="--out")
    elif not files:
        raise typer.BadParameter("give text or JSON Lines files, - for stdin, or --corpus STORE", param_hint="FILES")
    elif out is not None and fmt == "table":
        raise typer.BadParameter("--out works with --format jsonl or html", param_hint="--out")
    try:
        loaded = load_model(str(model) if model else None)
        if corpus is not None:
            counts = predict_corpus(corpus, out, loaded, batch_size, max_chars)
            extra = f", {counts['too_long']} skipped as too long" if counts["too_long"] else ""
            err_console.print(
                f"{counts['predicted']} predicted, {counts['skipped']} already in {out}{extra} -> {out}",
                highlight=False, soft_wrap=True,
            )
            return
        docs = _read_inputs(files or [])
        results = predict([d.text for d in docs], loaded, max_chars)
    except (OSError, IngestError, FormatError, ModelDirError, TextTooLongError) as exc:
        fail(exc)
    if fmt == "html":
        _write(_html(docs, results, loaded), out)
    elif fmt == "jsonl":
        _write("".join(json.dumps({"id": d.id, "entities": e}, ensure_ascii=False) + "\n"
                       for d, e in zip(docs, results)), out, newline=False)
    else:
        for doc, entities in zip(docs, results):
            console.print(_table(doc, entities))


def _write(text: str, out: Path | None, newline: bool = True) -> None:
    text = text + "\n" if newline and not text.endswith("\n") else text
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        err_console.print(f"[red]{exc}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    err_console.print(f"-> {out}", highlight=False, soft_wrap=True)


def serve_command(
    model: Path | None = typer.Option(None, help="Model directory (default: $VNER_MODEL or the latest trained)"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on"),
    max_body_mb: float = typer.Option(1.0, "--max-body-mb", min=0.001, help="Largest request body, in MiB"),
    max_chars: int = typer.Option(DEFAULT_MAX_CHARS, min=1, help="Longest text accepted, in characters"),
    log_level: str = typer.Option("info", help="uvicorn log level"),
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, GET /model, docs at /docs."""
    import uvicorn

    from models.service import MIB, create_app

    try:
        app = create_app(str(model) if model else None, max_body_bytes=int(max_body_mb * MIB), max_chars=max_chars)
    except (OSError, ModelDirError) as exc:
        err_console.print(f"[red]cannot start: {exc}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    err_console.print(
        f"serving {app.state.model.path} on http://{host}:{port} (API docs: http://{host}:{port}/docs)",
        highlight=False, soft_wrap=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def bench_command(
    models: list[Path] = typer.Option(..., "--model", help="Model directory (repeat to compare)"),
    corpus: Path = typer.Option(BUNDLED_GOLD_FILE, help="Texts to time (JSON Lines; default: the seed articles)"),
    repeats: int = typer.Option(3, help="Passes over the corpus; the median counts"),
) -> None:
    """Words/s, p50/p95 latency for an 800-word article, and peak RSS, each model in a fresh process."""
    table = Table(title=f"inference on {corpus.name}")
    columns = ("model", "runtime", "words/s", "p50 s", "p95 s", "load s", "peak RSS MB")
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "runtime") else "right", overflow="fold")
    for model in models:
        run = subprocess.run(
            [sys.executable, "-m", "models.bench", str(model), "--corpus", str(corpus), "--repeats", str(repeats)],
            capture_output=True, text=True,
        )
        if run.returncode:
            err_console.print(f"[red]{model}: benchmark failed[/]\n{run.stderr[-2000:]}")
            raise typer.Exit(1)
        row = json.loads(run.stdout.strip().splitlines()[-1])
        print(json.dumps(row), file=sys.stderr)
        runtime = row["runtime"] + (" int8" if row["quantized"] else "")
        table.add_row(model.name, runtime, f"{row['words_per_second']:,}", str(row["latency_p50_s"]),
                      str(row["latency_p95_s"]), str(row["load_seconds"]), str(row["peak_rss_mb"]))
    console.print(table)


def export_onnx_command(
    model_dir: Path = typer.Argument(..., help="A transformers-engine model directory"),
    quantize: bool = typer.Option(False, "--quantize/--no-quantize", help="Dynamic int8 quantization of the weights"),
    out: Path | None = typer.Option(None, "--out", help="New model directory (default: MODEL_DIR-onnx or -onnx-int8)"),
    opset: int = typer.Option(DEFAULT_OPSET, min=14, help="ONNX opset version"),
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists"),
    calibration: Path = typer.Option(
        BUNDLED_GOLD_FILE, "--calibration",
        help="JSON Lines articles that set the int8 smoothing scales (unannotated text of the genre is best; "
             "never the evaluation set)",
    ),
) -> None:
    """Export a transformers model to ONNX (optionally int8) as a new model directory run with onnxruntime."""
    from models.onnx_export import default_out_dir, export_onnx

    try:
        with err_console.status(f"exporting {model_dir} to ONNX" + (" (int8)" if quantize else "")):
            meta = export_onnx(model_dir, out, quantize=quantize, opset=opset, force=force,
                               calibration=calibration)
    except (OSError, ModelDirError, FormatError) as exc:
        err_console.print(f"[red]{exc}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    onnx = meta["onnx"]
    target = out if out is not None else default_out_dir(model_dir, quantize)
    console.print(
        f"model -> {target}  ({onnx['size_mb']} MB, {'int8' if quantize else 'fp32'}, opset {onnx['opset']}, "
        f"largest logit difference to PyTorch {onnx['check_max_abs_logit_diff']:.3g}"
        + (f", word tags as fp32: {onnx['calibration']['word_tag_agreement']:.2%}" if quantize else "") + ")",
        highlight=False, soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root ``vner`` app."""
    app.command("predict")(predict_command)
    app.command("serve")(serve_command)
    app.command("bench")(bench_command)
    app.command("export-onnx")(export_onnx_command)
