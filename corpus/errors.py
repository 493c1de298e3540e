"""What the ``vner`` command reports in one line instead of a traceback, and warnings about input."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or setup; its message names the file (and line) and says why."""


class InputWarning(UserWarning):
    """Input was used with a change the user should know about (e.g. invalid characters replaced)."""
