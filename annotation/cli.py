"""`vner` commands of the annotation package: ``vner studio start|stop|status``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

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


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root vner app."""
    studio = typer.Typer(help="Run the local Label Studio server for annotators.", no_args_is_help=True)
    studio.command("start")(studio_start)
    studio.command("stop")(studio_stop)
    studio.command("status")(studio_status)
    app.add_typer(studio, name="studio")
