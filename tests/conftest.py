"""Test isolation: every test gets its own work directory; shared data is optional."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from studio_fixtures import studio  # noqa: F401  (one Label Studio server for the whole session)

from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE, shared_dir


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "vner-home"
    monkeypatch.setenv("VNER_HOME", str(home))
    monkeypatch.delenv("VNER_MODEL", raising=False)
    monkeypatch.delenv("VNER_LABELS", raising=False)
    return home


@pytest.fixture()
def no_shipped_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the model shipped in models/data/default-model, as on a checkout without one."""
    monkeypatch.setattr("models.loading.BUNDLED_MODEL_DIR", tmp_path / "no-shipped-model")


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


@pytest.fixture(scope="session")
def seed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spaCy model trained for a few epochs on four bundled seeds, scored on the fifth; once a session."""
    from corpus.schema import load_schema
    from training.run import train_model

    seeds = read_documents(BUNDLED_GOLD_FILE)
    home = tmp_path_factory.mktemp("seed-model-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VNER_HOME", str(home))
        train, dev = home / "train.jsonl", home / "dev.jsonl"
        train.write_text("".join(json.dumps(d.to_dict(), ensure_ascii=False) + "\n" for d in seeds[:4]))
        dev.write_text(json.dumps(seeds[4].to_dict(), ensure_ascii=False) + "\n")
        small_batches = {"training.batcher.size.start": 100, "training.batcher.size.stop": 300}  # 4 articles
        train_model("spacy", load_schema(), train, dev, home / "model", max_epochs=6, seed=1, overrides=small_batches)
    return home / "model"
