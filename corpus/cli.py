"""The ``vner`` command. Packages add their groups through the ``vner.cli`` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

app = typer.Typer(help="Vietnamese NER for local-government news.", no_args_is_help=True, add_completion=False)


def main() -> None:
    from corpus.commands import register as register_corpus

    register_corpus(app)
    for entry in sorted(entry_points(group="vner.cli"), key=lambda e: e.name):
        entry.load()(app)
    app()
