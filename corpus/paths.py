"""Where things live: bundled data, the shared data folder and the project's work directory.

Override with ``VNER_HOME`` (work directory, default ``./var``) and ``VNER_SHARED``
(default: ``shared/`` beside the repository checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
DEFAULT_LABELS_FILE = PACKAGE_DATA / "labels.json"
BUNDLED_SEEDS_DIR = PACKAGE_DATA / "seeds"
BUNDLED_GOLD_FILE = PACKAGE_DATA / "seeds.gold.jsonl"

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The read-only shared data folder (gold files, pool); it may be absent."""
    return Path(os.environ.get("VNER_SHARED", REPO_ROOT.parent / "shared"))


def work_dir() -> Path:
    """The project's git-ignored work directory for stores, models and reports."""
    return Path(os.environ.get("VNER_HOME", "var"))


def default_store() -> Path:
    return work_dir() / "corpus.jsonl"


def models_dir() -> Path:
    return work_dir() / "models"
