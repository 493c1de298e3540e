"""Shared terminal output: one console for tables and messages, progress bars for long work."""

from __future__ import annotations

import re
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

console = Console(soft_wrap=True)
err_console = Console(stderr=True)

# Characters a terminal acts on instead of showing: C0 and C1 controls (escape sequences, bell,
# carriage return, ...) and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters written as escapes (``\\x1b``, ``\\u202e``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


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


def fail(problem: object, code: int = 2) -> NoReturn:
    """End a command on a user error: one line ``error: <problem>`` on stderr, exit status ``code``."""
    err_console.print(Text(printable("error: " + " ".join(str(problem).split())), style="red"), soft_wrap=True)
    raise typer.Exit(code)
