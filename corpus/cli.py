"""The ``vner`` command. Packages add their groups through the ``vner.cli`` entry points.

Error policy, for every command: a user error (:class:`corpus.errors.UserError`, an unreadable
file, text that is not valid in its encoding) ends in one line on stderr naming the file and
line, with exit code 2; any other exception in one line too, with exit code 1. ``vner --debug
COMMAND`` shows the traceback instead. Warnings about input (:class:`corpus.errors.InputWarning`)
are printed as ``warning: ...`` lines.
"""

from __future__ import annotations

import sys
import warnings
from importlib.metadata import entry_points

import typer

from corpus.errors import InputWarning, UserError

USER_ERROR_EXIT = 2
INTERNAL_ERROR_EXIT = 1

app = typer.Typer(help="Vietnamese NER for local-government news.", no_args_is_help=True, add_completion=False)
_options = {"debug": False}


@app.callback()
def root(debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error.")) -> None:
    _options["debug"] = debug


def error_line(exc: BaseException) -> str:
    """The one line that reports ``exc``: ``error: <message>`` (a user error) or ``internal error: ...``."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (UserError, OSError, UnicodeError)):
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
            message = f"{exc.filename}: {message}"
        return f"error: {message}"
    return f"internal error: {type(exc).__name__}: {message} (run `vner --debug ...` for the traceback)"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    if issubclass(category, InputWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


def main() -> None:
    warnings.showwarning = _show_warning
    try:
        from corpus.commands import register as register_corpus

        register_corpus(app)
        for entry in sorted(entry_points(group="vner.cli"), key=lambda e: e.name):
            entry.load()(app)
        app()
    except (Exception, KeyboardInterrupt) as exc:  # click has already handled usage errors and typer.Exit
        if _options["debug"] or "--debug" in sys.argv[1:2]:  # (a package failing to register comes before the flag)
            raise
        if isinstance(exc, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        print(error_line(exc), file=sys.stderr)
        is_user_error = isinstance(exc, (UserError, OSError, UnicodeError))
        sys.exit(USER_ERROR_EXIT if is_user_error else INTERNAL_ERROR_EXIT)
