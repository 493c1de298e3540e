"""Shared terminal output: one console for tables and messages, progress bars for long work."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def progress_bar() -> Progress:
    """A progress bar on stderr (so stdout stays clean for data), hidden when not a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
