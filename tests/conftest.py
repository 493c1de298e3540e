"""Test isolation: every test gets its own work directory; shared data is optional."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from corpus.paths import shared_dir


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "vner-home"
    monkeypatch.setenv("VNER_HOME", str(home))
    monkeypatch.delenv("VNER_MODEL", raising=False)
    monkeypatch.delenv("VNER_LABELS", raising=False)
    return home


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder; tests that need it are skipped, with the reason, when it is absent."""
    path = shared_dir()
    if not (path / "gold" / "train.jsonl").is_file():
        pytest.skip(f"shared data not found at {path} (set VNER_SHARED)")
    return path


@pytest.fixture(scope="session")
def vner() -> str:
    """The installed ``vner`` console script of this environment."""
    script = Path(sys.executable).parent / "vner"
    if not script.exists():
        pytest.fail(f"{script} not found: install the project (make install)")
    return str(script)
