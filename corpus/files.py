"""Replacing a directory without ever losing it: build beside it, then swap ("stage then swap").

``with staged_dir(target) as staging: ...`` writes into a fresh sibling directory; only when the
block succeeds is ``target`` moved aside (``.<name>.retired``), the staging directory renamed into
its place and the old one deleted. If the process dies between those two renames, the previous
directory is still whole under its retired name, and the next :func:`staged_dir` or
:func:`recover_dir` on the same target puts it back before anything else happens.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _sibling(target: Path, role: str) -> Path:
    return target.with_name(f".{target.name}.{role}")


def recover_dir(target: str | Path) -> bool:
    """Put back a directory left retired by an interrupted swap; True if one was restored."""
    target = Path(target)
    retired = _sibling(target, "retired")
    if retired.is_dir() and not target.exists():
        retired.rename(target)
        return True
    if retired.is_dir():  # the swap finished; only the clean-up was interrupted
        shutil.rmtree(retired, ignore_errors=True)
    return False


def swap_in(staging: Path, target: Path, between: Callable[[], None] | None = None) -> None:
    """Move the complete ``staging`` directory to ``target``, replacing what is there.

    ``between`` runs after the old directory is moved aside and before the new one is renamed
    in (a test hook for an interruption at the worst moment).
    """
    retired = _sibling(target, "retired")
    if target.exists():
        target.rename(retired)
    try:
        if between is not None:
            between()
        staging.rename(target)
    except BaseException:
        if retired.exists() and not target.exists():
            retired.rename(target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def staged_dir(target: str | Path) -> Iterator[Path]:
    """A fresh directory to fill; it replaces ``target`` when the block ends without an exception."""
    target = Path(target)
    recover_dir(target)
    staging = _sibling(target, "staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    swap_in(staging, target)
