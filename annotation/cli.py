"""`vner` commands of the annotation package.

``vner studio start|stop|status`` run the local server; ``init|push|pull|import-gold`` manage the
annotation project on it (see ``annotation/client.py`` for the API calls, ``annotation/export.py``
for the export policy); ``backend`` serves a model as a Label Studio ML backend and ``connect``
registers it on the project (``annotation/ml_backend.py``). The team's commands (``users``,
``queue``, ``agreement``, ``review``, ``retrain``) are in ``annotation/team_cli.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

PORT_HELP = "Port on 127.0.0.1 (default: $VNER_LS_PORT, the config file, else 8080)."
DATA_DIR_HELP = "Label Studio data dir (default: $VNER_LS_DATA_DIR, else <work dir>/label-studio)."


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _login_line(settings) -> str:
    creds = settings.credentials
    if creds is None:
        return "login: not configured yet (`vner studio start` creates one)"
    return f"login: {creds.username} (password and API token are stored in {creds.source})"


def studio_start(
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    timeout: Optional[float] = typer.Option(
        None, help="Seconds to wait for /health (default: 300 on first start, 120 after)."
    ),
) -> None:
    """Start Label Studio in the background and wait until it answers."""
    from annotation import server
    from annotation.settings import SettingsError, load_settings

    try:
        settings = load_settings(port=port, data_dir=data_dir)
    except SettingsError as exc:
        _fail(str(exc))
    for note in settings.notes:
        typer.echo(note)
    try:
        result = server.start(settings, timeout=timeout, progress=typer.echo)
    except server.StudioError as exc:
        _fail(str(exc))
    for message in result.messages:
        typer.secho(message, fg=typer.colors.YELLOW)
    if result.already_running:
        typer.echo(f"Label Studio is already running at {result.url} (pid {result.pid})")
    else:
        typer.echo(f"Label Studio is running at {result.url} (pid {result.pid}, ready in {result.seconds:.1f} s)")
    typer.echo(_login_line(settings))
    typer.echo(f"data: {settings.data_dir}  log: {settings.log_file}")


def studio_stop(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Stop the Label Studio started by `vner studio start` (found by its PID file)."""
    from annotation import server
    from annotation.settings import SettingsError, load_settings

    try:
        settings = load_settings(data_dir=data_dir, with_credentials=False)
        result = server.stop(settings)
    except (SettingsError, server.StudioError) as exc:
        _fail(str(exc))
    typer.echo(result.message)


def studio_status(
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Say whether Label Studio runs (exit code 0) or not (exit code 3)."""
    from annotation import server
    from annotation.settings import SettingsError, load_settings

    try:
        settings = load_settings(port=port, data_dir=data_dir, generate=False)
    except SettingsError as exc:
        _fail(str(exc))
    state = server.status(settings)
    typer.echo(state.message)
    if state.running:
        typer.echo(f"url: {state.url}")
        typer.echo(_login_line(settings))
        if state.token_ok is False:
            typer.secho("the configured API token is not accepted by this server", fg=typer.colors.YELLOW)
    typer.echo(f"data: {settings.data_dir}  log: {settings.log_file}")
    if not state.running:
        raise typer.Exit(3)


# ----------------------------------------------------------------------------- project commands

PROJECT_HELP = "Title of the Label Studio project."


def _connect(port: Optional[int]):
    """A client for the running server, or a clear error and exit code 1."""
    from annotation.client import StudioClient, StudioClientError
    from annotation.server import running_settings
    from annotation.settings import SettingsError, load_settings

    try:
        settings = running_settings(load_settings(port=port, generate=False))
        return StudioClient.connect(settings)
    except (SettingsError, StudioClientError) as exc:
        _fail(str(exc))


def studio_factory(port: Optional[int]):
    """A function connecting to the running server (errors raised as ``StudioClientError``, not printed)."""

    def connect():
        from annotation.client import StudioClient
        from annotation.server import running_settings
        from annotation.settings import load_settings

        return StudioClient.connect(running_settings(load_settings(port=port, generate=False)))

    return connect


def _schema():
    from corpus.schema import SchemaError, load_schema

    try:
        return load_schema()
    except SchemaError as exc:
        _fail(str(exc))


def _project_id(client, title: str) -> int:
    from annotation.client import StudioClientError

    try:
        return client.project_id(title)
    except StudioClientError as exc:
        _fail(str(exc))


def _list_line(label: str, ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit]) + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")
    return f"{label}: {len(ids)} ({shown})"


def studio_init(
    title: str = typer.Option(None, "--title", help=f"{PROJECT_HELP} (default: the vner project)"),
    overlap: Optional[int] = typer.Option(
        None, "--overlap", min=1, help="Annotators per task (Label Studio's maximum annotations; default: "
        "1 for a new project, unchanged otherwise)."
    ),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Create the annotation project, or update it (found by title): labeling config, guidelines, settings."""
    from annotation.client import DEFAULT_PROJECT_TITLE, StudioClientError, project_settings

    title = title or DEFAULT_PROJECT_TITLE
    schema = _schema()
    wanted = project_settings(schema)
    if overlap is not None:
        wanted.update(maximum_annotations=overlap, overlap_cohort_percentage=100)
    client = _connect(port)
    try:
        found = client.find_projects(title)
        before = client.get_project(found[0].id) if len(found) == 1 else None
        project_id, created = client.ensure_project(title, **wanted)
    except StudioClientError as exc:
        _fail(str(exc))
    finally:
        client.close()
    if created:
        typer.echo(f"created project {title!r} (id {project_id}) with {len(schema.names)} labels and the guidelines")
    else:
        keys = (("labeling config", "label_config"), ("guidelines", "expert_instruction"),
                ("empty submissions refused", "enable_empty_annotation"), ("overlap", "maximum_annotations"))
        changed = [name for name, key in keys
                   if key in wanted and (before is None or getattr(before, key) != wanted[key])]
        what = f"updated: {', '.join(changed)}" if changed else "labeling config and guidelines were already current"
        typer.echo(f"project {title!r} (id {project_id}) exists; {what}")
    typer.echo(f"open {client.url}/projects/{project_id}/data")


def _load_documents(store: Optional[Path]):
    """Documents of a corpus store / gold JSONL file, or of the bundled seeds (ingested into a temp store)."""
    import tempfile

    from corpus.ingest import ingest
    from corpus.jsonl import FormatError, read_documents
    from corpus.paths import BUNDLED_SEEDS_DIR
    from corpus.store import CorpusStore

    if store is not None:
        if not store.is_file():
            _fail(f"{store}: no such file")
        try:
            return read_documents(store), str(store)
        except (FormatError, OSError, UnicodeDecodeError) as exc:
            _fail(str(exc))
    with tempfile.TemporaryDirectory(prefix="vner-seeds-") as tmp:
        corpus = CorpusStore(Path(tmp) / "seeds.jsonl")
        report = ingest([BUNDLED_SEEDS_DIR], corpus)
        for problem in report.errors:
            typer.secho(str(problem), fg=typer.colors.YELLOW, err=True)
        docs = read_documents(corpus.path) if corpus.path.exists() else []
    return docs, f"the bundled seeds ({BUNDLED_SEEDS_DIR})"


def _echo_skipped(report: Any, refused: list, refused_what: str, normalized_what: str) -> None:
    """What a push or gold import left out or changed: refused spans, NFC rewrites, skipped documents."""
    if refused:
        typer.secho(f"{len(refused)} {refused_what}:", fg=typer.colors.YELLOW)
        for doc_id, problem in refused[:20]:
            typer.echo(f"  {doc_id} {problem}")
    if report.normalized:
        typer.echo(_list_line(normalized_what, report.normalized))
    if report.same_text:
        pairs = [f"{mine} = {theirs}" for mine, theirs in report.same_text]
        typer.echo(_list_line("same text as a task of the project under another doc_id (that task is used)", pairs))
    for label, ids in (("repeated in the input (skipped)", report.repeated), ("empty text (skipped)", report.empty),
                       ("same doc_id already in the project with ANOTHER text (skipped)", report.conflicts)):
        if ids:
            typer.secho(_list_line(label, ids), fg=typer.colors.YELLOW)


def studio_push(
    store: Optional[Path] = typer.Option(
        None, "--store", help="Corpus store or gold file (JSON Lines) (default: the bundled seed articles)."
    ),
    pre_annotate: Optional[str] = typer.Option(
        None, "--pre-annotate", help="Model directory or 'rules': import its predictions as drafts (pre-annotations)."
    ),
    batch_size: int = typer.Option(100, "--batch-size", min=1, help="Tasks per import request."),
    project: str = typer.Option(None, "--project", help=f"{PROJECT_HELP} (default: the vner project)"),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Import documents as tasks; documents already in the project (by doc_id) are skipped."""
    from annotation.client import (
        DEFAULT_PROJECT_TITLE,
        StudioClientError,
        model_predictor,
        push_documents,
    )
    from corpus.console import progress_bar

    schema = _schema()
    predictor = version = None
    if pre_annotate is not None:
        from models import load_model
        from models.card import ModelDirError

        try:
            model = load_model(pre_annotate)
        except ModelDirError as exc:
            _fail(str(exc))
        version = model.version
        predictor = model_predictor(model)
    docs, origin = _load_documents(store)
    client = _connect(port)
    try:
        project_id = _project_id(client, project or DEFAULT_PROJECT_TITLE)
        with progress_bar() as progress:
            bar = progress.add_task("pushing", total=None)
            report = push_documents(client, project_id, docs, schema, batch_size=batch_size,
                                    predictor=predictor, model_version=version,
                                    on_start=lambda n: progress.update(bar, total=n),
                                    on_batch=lambda n: progress.advance(bar, n))
    except StudioClientError as exc:
        _fail(f"{exc} (batches imported before this are kept; pushing again skips them)")
    except (ValueError, OSError) as exc:  # the model: unreadable directory, text too long, ...
        _fail(f"pre-annotation failed: {exc} (batches imported before this are kept; pushing again skips them)")
    finally:
        client.close()
    typer.echo(f"{len(docs)} documents from {origin}")
    typer.echo(f"added {len(report.added)} tasks to project {project_id} in {report.batches} batches; "
               f"{len(report.present) + len(report.same_text)} already there (skipped)")
    if report.model_version:
        typer.echo(f"predictions: {report.predictions} tasks pre-annotated by {report.model_version}, "
                   f"{report.relations} relations among their spans "
                   "(the project's model version now: its drafts show in the labeling view)")
    _echo_skipped(report, report.refused_predictions, "predicted spans or relations break the annotation rules "
                  "and were left out of the drafts", "texts normalized to NFC before import")


def studio_pull(
    out: Path = typer.Option(..., "--out", "-o", help="Gold JSON Lines file to write."),
    project: str = typer.Option(None, "--project", help=f"{PROJECT_HELP} (default: the vner project)"),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Use empty annotations (documents without entities) instead of reporting them."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit with code 2 when any span or relation is invalid."),
    relations_annotated: bool = typer.Option(
        False, "--relations-annotated", help='Every annotation was made with relations in mind: a document without '
        'arrows is written with "relations": [] (default: no "relations" key, i.e. not annotated for relations).'
    ),
    take_latest: bool = typer.Option(
        False, "--take-latest", help="Write disputed tasks (annotators disagree, no ground truth) with the latest "
        "annotation instead of leaving them out."
    ),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Export the annotations as gold documents; every problem is reported, valid spans and relations are written."""
    from annotation.client import DEFAULT_PROJECT_TITLE, StudioClientError
    from annotation.export import INVALID_RELATION, INVALID_SPAN, convert_export, render_report, write_gold
    from corpus.console import console

    schema = _schema()
    client = _connect(port)
    try:
        project_id = _project_id(client, project or DEFAULT_PROJECT_TITLE)
        tasks = client.export(project_id, predictions=True)
    except StudioClientError as exc:
        _fail(str(exc))
    finally:
        client.close()
    report = convert_export(tasks, schema, allow_empty=allow_empty, take_latest=take_latest,
                            relations_annotated=relations_annotated)
    write_gold(out, report.documents)
    render_report(report, schema, console, out)
    relations = sum(report.relation_counts.values())
    typer.echo(f"wrote {len(report.documents)} documents, {report.span_count} spans, {relations} relations to {out}")
    if strict and (report.of(INVALID_SPAN) or report.of(INVALID_RELATION)):
        raise typer.Exit(2)


def studio_import_gold(
    gold: Path = typer.Argument(..., help="Gold JSON Lines file (id, title, date, source, text, spans[, relations])."),
    project: str = typer.Option(None, "--project", help=f"{PROJECT_HELP} (default: the vner project)"),
    batch_size: int = typer.Option(100, "--batch-size", min=1, help="Tasks per import request."),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Load gold annotations for review (ground truth); tasks are created when their doc_id is new."""
    from annotation.client import DEFAULT_PROJECT_TITLE, StudioClientError, import_gold
    from corpus.console import progress_bar
    from corpus.gold import read_gold

    schema = _schema()
    docs, origin = read_gold(gold, schema), str(gold)  # a GoldError names file, line, offsets and reason
    client = _connect(port)
    try:
        project_id = _project_id(client, project or DEFAULT_PROJECT_TITLE)
        with progress_bar() as progress:
            bar = progress.add_task("importing gold", total=len(docs))
            report = import_gold(client, project_id, docs, schema, batch_size=batch_size,
                                 on_doc=lambda n: progress.advance(bar, n))
    except StudioClientError as exc:
        _fail(str(exc))
    finally:
        client.close()
    typer.echo(f"{len(docs)} gold documents from {origin} -> project {project_id}")
    typer.echo(f"new tasks with the gold annotation: {len(report.created)}; gold annotation added to existing "
               f"tasks: {len(report.annotated)}; already there: {len(report.unchanged)}")
    if report.relations:
        typer.echo(f"relations imported with the gold annotations: {report.relations}")
    _echo_skipped(report, report.refused_spans, "gold spans (or relations linking them) break the annotation rules "
                  "and were not imported",
                  "texts normalized to NFC (spans moved)")


# ----------------------------------------------------------------------------- ML backend


def studio_backend(
    model: str = typer.Option(..., "--model", "-m", help='Model directory, or "rules" for the rule-based engine.'),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(9090, "--port", "-p", min=0, max=65535, help="Port to listen on."),
    model_version: Optional[str] = typer.Option(
        None, "--model-version", help="Version written on the predictions (default: <model dir>@<created>)."
    ),
    max_body_mb: float = typer.Option(100.0, "--max-body-mb", min=0.001, help="Largest /predict body, in MiB."),
    train_base: Optional[Path] = typer.Option(
        None, "--train-base", help="Gold file merged with the project's annotations when Label Studio asks to "
        "train (Start Training); needs --train-dev."
    ),
    train_dev: Optional[Path] = typer.Option(None, "--train-dev", help="Fixed dev file new models are scored on."),
    engine: str = typer.Option("spacy", "--engine", help="Engine of the retrained models: spacy or transformers."),
    train_option: list[str] = typer.Option(
        [], "--train-option", help="KEY=VALUE for the trainer, repeatable (e.g. max_epochs=10)."
    ),
    project: str = typer.Option(None, "--project", help=f"{PROJECT_HELP} (default: the vner project)"),
    studio_port: Optional[int] = typer.Option(None, "--studio-port", help=f"Label Studio's port. {PORT_HELP}"),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve a model as a Label Studio ML backend (then `vner studio connect`); it retrains on Start Training."""
    import uvicorn

    from annotation.ml_backend import create_backend_app
    from annotation.retrain import RetrainPlan
    from annotation.settings import SettingsError, load_backend_credentials
    from models.card import ModelDirError
    from models.service import MIB
    from training import ENGINES, option_pair

    if (train_base is None) != (train_dev is None):
        _fail("--train-base and --train-dev go together", 2)
    if engine not in ENGINES:
        _fail(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}", 2)
    plan = None
    if train_base is not None and train_dev is not None:
        for path in (train_base, train_dev):
            if not path.is_file():
                _fail(f"{path}: no such file", 2)
        try:
            plan = RetrainPlan(train_base, train_dev, engine, dict(option_pair(o) for o in train_option))
        except ValueError as exc:
            _fail(str(exc), 2)
    try:
        credentials = load_backend_credentials()
        app = create_backend_app(model, model_version=model_version, max_body_bytes=int(max_body_mb * MIB),
                                 credentials=credentials, retrain_plan=plan, studio=studio_factory(studio_port),
                                 project_title=project)
    except (OSError, ModelDirError, SettingsError) as exc:
        _fail(f"cannot start: {exc}")
    typer.echo(f"ML backend for {model} ({app.state.model.engine}), model version {app.state.model_version}, "
               f"on http://{host}:{port}")
    typer.echo(f"HTTP basic auth: user {credentials.username}, password stored in {credentials.source}")
    typer.echo("Start Training: " + (f"retrains {engine} on {train_base} + the project's annotations, scored on "
                                     f"{train_dev}" if plan else "off (give --train-base and --train-dev)"))
    typer.echo(f"connect it with: vner studio connect --url http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def studio_connect(
    url: str = typer.Option("http://127.0.0.1:9090", "--url", help="URL of the ML backend (`vner studio backend`)."),
    title: Optional[str] = typer.Option(
        None, "--title", help="Name of the backend in Label Studio (default: the backend's model version)."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Remove the project's other ML backends (Label Studio only uses the first one)."
    ),
    retrieve: bool = typer.Option(
        False, "--retrieve", help="Then ask Label Studio to fetch predictions for every task without one."
    ),
    project: str = typer.Option(None, "--project", help=f"{PROJECT_HELP} (default: the vner project)"),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Register an ML backend on the project (with its credential) as the source of the drafts annotators see."""
    from annotation.client import DEFAULT_PROJECT_TITLE, StudioClientError
    from annotation.ml_backend import backend_info, connect_backend, retrieve_predictions
    from annotation.settings import SettingsError, load_backend_credentials

    try:
        credentials = load_backend_credentials()
    except SettingsError as exc:
        _fail(str(exc))
    client = _connect(port)
    try:
        project_id = _project_id(client, project or DEFAULT_PROJECT_TITLE)
        label_config = client.get_project(project_id).label_config
        try:
            info = backend_info(url, label_config, credentials=credentials)
        except RuntimeError as exc:
            _fail(str(exc))
        version = info.get("model_version") or ""
        name = title or version or "vner"
        report = connect_backend(client, project_id, url, name, replace=replace, credentials=credentials)
        fetched = retrieve_predictions(client, project_id, report.model_version or name) if retrieve else None
    except StudioClientError as exc:
        _fail(str(exc))
    finally:
        client.close()
    verb = "added" if report.created else "updated"
    typer.echo(f"{verb} ML backend {report.backend_id} {url!r} on project {project_id}: title {report.title!r}, "
               f"model version {report.model_version!r}, state {report.state}")
    typer.echo(f"project model version: {report.title!r} (tasks opened without a prediction ask the backend)")
    for backend in report.removed:
        typer.echo(f"removed ML backend {backend.id} {backend.url!r}")
    if report.others:
        listed = ", ".join(f"{b.id} {b.url!r}" for b in report.others)
        typer.secho(f"the project has other ML backends ({listed}); Label Studio asks only the first one: "
                    "remove them with --replace", fg=typer.colors.YELLOW)
    if fetched is not None:
        typer.echo(f"fetched predictions for {fetched.fetched} of {fetched.sent} tasks from the backend; "
                   f"{fetched.already} already had one of this version (Label Studio skips them)")
        if fetched.missing:
            shown = ", ".join(map(str, fetched.missing[:10])) + (" ..." if len(fetched.missing) > 10 else "")
            typer.secho(f"{len(fetched.missing)} tasks still have no prediction of this version (tasks {shown}): "
                        "see the backend's and the server's logs", fg=typer.colors.YELLOW)
    else:
        typer.echo("to fill all tasks: Data Manager > select tasks > Actions > Retrieve Predictions "
                   "(or run again with --retrieve)")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root vner app."""
    studio = typer.Typer(help="Label Studio: run the server, push tasks, pull annotations.", no_args_is_help=True)
    studio.command("start")(studio_start)
    studio.command("stop")(studio_stop)
    studio.command("status")(studio_status)
    studio.command("init")(studio_init)
    studio.command("push")(studio_push)
    studio.command("pull")(studio_pull)
    studio.command("import-gold")(studio_import_gold)
    studio.command("backend")(studio_backend)
    studio.command("connect")(studio_connect)
    from annotation import team_cli

    team_cli.register(studio)
    app.add_typer(studio, name="studio")
