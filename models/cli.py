"""``vner predict``: entities of articles as a table, JSON Lines or HTML; ``vner serve``: the HTTP API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from corpus.console import console, err_console, fail, printable, progress_bar
from corpus.document import Document
from corpus.ingest import IngestError, decode
from corpus.jsonl import FormatError, read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.text import normalize
from models.base import NerModel
from models.batch import DEFAULT_BATCH_SIZE, DEFAULT_PARTITION_SIZE
from models.card import ModelDirError
from models.loading import load_model
from models.onnx_export import DEFAULT_OPSET
from models.predict import DEFAULT_MAX_CHARS, TextTooLongError, predict
from models.records_cli import records_command, records_tables

FORMATS = ("table", "jsonl", "html")
CORPUS_FORMATS = ("jsonl", "parquet")  # of models/batch.py
ENGINES = ("local", "dask")
MODEL_HELP = "Model directory, or rules for the rule-based engine (default: $VNER_MODEL or the latest trained)"


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

    pages = [(f"{d.id}: {d.title}" if d.title else d.id, d.text, ents) for d, ents in zip(docs, results, strict=True)]
    count = f"{len(docs)} document" + ("" if len(docs) == 1 else "s")
    return render_page(pages, model.schema, page_title=f"vner predictions ({count})")


# ---------------------------------------------------------------- batch mode over a corpus (models/batch.py)


def _predict_corpus(inputs: list[Path], out: Path, fmt: str | None, model: Path | None, *, engine: str,
                    workers: int | None, threads: int | None, scheduler: str | None, partition_size: int,
                    batch_size: int, max_chars: int, records: bool) -> None:
    """``vner predict --corpus``: the partitioned batch job, in this process or on Dask; exits on failure."""
    from models.batch import BatchJob, LocalRunner, Runner, model_ref, run_batch
    from models.batch_output import BatchError

    fmt = fmt or ("jsonl" if out.suffix.lower() in (".jsonl", ".ndjson") else "parquet")

    def say(text: str) -> None:
        err_console.print(text, highlight=False, soft_wrap=True)

    try:
        ref = model_ref(model)
        if engine == "dask":
            from models.dask_runner import DaskRunner

            runner: Runner = DaskRunner(ref, workers=workers, threads_per_worker=threads, scheduler=scheduler,
                                        say=say)
        else:
            runner = LocalRunner(ref, threads)
        with progress_bar() as bar:
            task = bar.add_task("partitions", total=None, visible=False)
            summary = run_batch(inputs, out, BatchJob(ref, fmt, batch_size, max_chars, records), runner,
                                partition_size,
                                progress=lambda done, total: bar.update(task, completed=done, total=total,
                                                                        visible=True))
    except KeyboardInterrupt:
        say(f"[yellow]interrupted: finished partitions are kept in {out}; rerun the same command to resume[/]")
        raise typer.Exit(130) from None
    except (OSError, FormatError, ModelDirError, BatchError) as exc:
        fail(exc)
    rate = f", {summary.words / summary.seconds:,.0f} words/s" if summary.predicted else ""
    say(f"{summary.rows} documents predicted in {summary.predicted} partitions ({summary.done_before} of "
        f"{summary.partitions} done before; {summary.seconds:.1f} s with {summary.startup_seconds:.1f} s of "
        f"start-up{rate}) -> {out}")
    if summary.repeated:
        say(f"[yellow]{summary.repeated} documents skipped: their id came earlier in the input[/]")
    if summary.errors:
        say(f"[yellow]{summary.errors} documents could not be predicted: ids and reasons in {summary.errors_file}[/]")
    if summary.failed:
        first = summary.failed[0]
        fail(f"{len(summary.failed)} partitions failed (partition {first.index}: {first.error}); "
             f"rerun the same command to retry them", code=1)


# ---------------------------------------------------------------- commands


def predict_command(
    files: list[Path] | None = typer.Argument(None, help="Text or JSON Lines files, or - for stdin"),
    model: Path | None = typer.Option(None, help=MODEL_HELP),
    output_format: str | None = typer.Option(
        None, "--format", help=f"One of: {', '.join(FORMATS)} (default: table); with --corpus: "
        f"{' or '.join(CORPUS_FORMATS)} (default: jsonl if --out ends in .jsonl, else a Parquet dataset directory)"
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write jsonl or html here instead of stdout; with --corpus: FILE.jsonl or a directory"
    ),
    corpus: list[Path] | None = typer.Option(
        None, "--corpus", help="Predict every document of these JSON Lines or Parquet inputs (a file, a glob, a "
        "directory; repeatable) into --out; rerunning the same command resumes after the finished partitions"
    ),
    engine: str | None = typer.Option(
        None, help="With --corpus: local (this process) or dask (a local Dask cluster, or --scheduler's)"
    ),
    workers: int | None = typer.Option(
        None, min=1, help="--engine dask: worker processes of the local cluster (default: cores / threads per worker)"
    ),
    threads_per_worker: int | None = typer.Option(
        None, min=1, help="With --corpus: compute threads (BLAS, onnxruntime, torch) of each worker; default: "
        "local: the libraries' own, local cluster: 1, --scheduler: each worker's Dask threads"
    ),
    partition_size: int = typer.Option(
        DEFAULT_PARTITION_SIZE, min=1, help="With --corpus: documents per partition (the unit of work and of resuming)"
    ),
    scheduler: str | None = typer.Option(
        None, help="With --corpus: run on the Dask cluster of this scheduler (tcp://HOST:8786); implies --engine dask"
    ),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, min=1, help="Documents per model call with --corpus"),
    max_chars: int = typer.Option(
        DEFAULT_MAX_CHARS, min=1, help="Refuse longer texts (with --corpus: list them in the errors file)"
    ),
    records: bool = typer.Option(
        False, "--records", help="Also HOLDS/PERIOD relations and records (people, values) of each document: two more "
        "tables, or \"relations\" and \"records\" fields (jsonl, --corpus)"
    ),
) -> None:
    """Print the entities found in articles, or predict a whole corpus into a file or Parquet dataset."""
    if corpus:
        if files:
            raise typer.BadParameter("give either files or --corpus, not both", param_hint="--corpus")
        if output_format is not None and output_format not in CORPUS_FORMATS:
            raise typer.BadParameter("--corpus writes JSON Lines (jsonl) or Parquet (parquet)", param_hint="--format")
        if out is None:
            raise typer.BadParameter("--corpus needs --out (FILE.jsonl, or a directory for Parquet)",
                                     param_hint="--out")
        engine = engine or ("dask" if scheduler else "local")
        if engine not in ENGINES:
            raise typer.BadParameter(f"choose one of {', '.join(ENGINES)}", param_hint="--engine")
        if engine == "local" and (workers or scheduler):
            raise typer.BadParameter("--workers and --scheduler need --engine dask", param_hint="--engine")
        if scheduler and workers:
            raise typer.BadParameter("--workers starts a local cluster; the cluster of --scheduler has its own",
                                     param_hint="--workers")
        _predict_corpus(corpus, out, output_format, model, engine=engine, workers=workers, threads=threads_per_worker,
                        scheduler=scheduler, partition_size=partition_size, batch_size=batch_size, max_chars=max_chars,
                        records=records)
        return
    fmt = output_format or "table"
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if not files:
        raise typer.BadParameter("give text or JSON Lines files, - for stdin, or --corpus STORE", param_hint="FILES")
    elif out is not None and fmt == "table":
        raise typer.BadParameter("--out works with --format jsonl or html", param_hint="--out")
    if records and fmt == "html":
        raise typer.BadParameter("--records works with --format table or jsonl", param_hint="--records")
    try:
        loaded = load_model(model)
        docs = _read_inputs(files or [])
        results = predict([d.text for d in docs], loaded, max_chars, records=records)
    except (OSError, IngestError, FormatError, ModelDirError, TextTooLongError) as exc:
        fail(exc)
    if fmt == "html":
        _write(_html(docs, results, loaded), out)
    elif fmt == "jsonl":
        _write("".join(json.dumps({"id": d.id} | (e if records else {"entities": e}), ensure_ascii=False) + "\n"
                       for d, e in zip(docs, results, strict=True)), out, newline=False)
    else:
        for doc, answer in zip(docs, results, strict=True):
            console.print(_table(doc, answer["entities"] if records else answer))
            for table in records_tables(doc, answer) if records else []:
                console.print(table)


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
    model: Path | None = typer.Option(None, help=MODEL_HELP),
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on"),
    max_body_mb: float = typer.Option(1.0, "--max-body-mb", min=0.001, help="Largest request body, in MiB"),
    max_chars: int = typer.Option(DEFAULT_MAX_CHARS, min=1, help="Longest text accepted, in characters"),
    log_level: str = typer.Option("info", help="uvicorn log level"),
    workers: int | None = typer.Option(
        None, min=1, help="Worker processes answering at once, each with a copy of the model (default: 2)"
    ),
    timeout: float | None = typer.Option(
        None, min=0.1, help="Seconds a client has to send its request body (default: 30); a third for its headers"
    ),
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, GET /model, docs at /docs."""
    import uvicorn

    from models.service import DEFAULT_BODY_TIMEOUT, DEFAULT_WORKERS, MIB, create_app, server_config

    timeout = timeout or DEFAULT_BODY_TIMEOUT
    try:
        app = create_app(str(model) if model else None, max_body_bytes=int(max_body_mb * MIB), max_chars=max_chars,
                         workers=workers or DEFAULT_WORKERS, body_timeout=timeout)
    except (OSError, ModelDirError) as exc:
        err_console.print(f"[red]cannot start: {exc}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    err_console.print(
        f"serving {app.state.model.path} on http://{host}:{port} (API docs: http://{host}:{port}/docs)",
        highlight=False, soft_wrap=True,
    )
    uvicorn.Server(server_config(app, host, port, header_timeout=timeout / 3, log_level=log_level)).run()


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
    onnx = meta.onnx or {}
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
    app.command("records")(records_command)
