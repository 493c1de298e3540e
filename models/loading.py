"""Finding and loading model directories, whatever their engine."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from corpus.paths import models_dir
from models.base import NerModel
from models.card import META_FILE, ModelDirError, read_meta

MODEL_ENV = "VNER_MODEL"
LATEST_FILE = "LATEST"
# The model shipped with the project (spaCy, trained on all gold; `make default-model` rebuilds it).
BUNDLED_MODEL_DIR = Path(__file__).resolve().parent / "data" / "default-model"
RULES_ENGINE = "rules"  # load_model("rules"): models/rules/

_cache: dict[tuple[Path, int], NerModel] = {}
_lock = threading.Lock()


def latest_pointer() -> Path:
    """The file in which ``vner train`` records the directory of the newest model."""
    return models_dir() / LATEST_FILE


def trained_default() -> Path | None:
    """The model ``vner train`` last made the default (``LATEST``), if any."""
    pointer = latest_pointer()
    return Path(pointer.read_text(encoding="utf-8").strip()) if pointer.is_file() else None


def recorded_default() -> Path | None:
    """The default model when ``$VNER_MODEL`` is not set: :func:`trained_default`, else the bundled one."""
    trained = trained_default()
    if trained is not None:
        return trained
    return BUNDLED_MODEL_DIR if (BUNDLED_MODEL_DIR / META_FILE).is_file() else None


def default_model_dir() -> Path:
    """``$VNER_MODEL``, else :func:`recorded_default`."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    recorded = recorded_default()
    if recorded is not None:
        return recorded
    raise ModelDirError(
        f"no model given and no default model: train one with `vner train`, "
        f"pass --model DIR, or set {MODEL_ENV}=DIR"
    )


def _engine_class(engine: str) -> type[NerModel]:
    if engine == "spacy":
        from models.spacy_engine import SpacyModel

        return SpacyModel
    if engine == "transformers":
        from models.hf_engine import HFModel

        return HFModel
    if engine == RULES_ENGINE:
        from models.rules import RulesModel

        return RulesModel
    raise ModelDirError(f"unknown engine {engine!r}")


def load_model(model: str | Path | NerModel | None = None) -> NerModel:
    """A loaded model: ``model`` itself, the directory it names, or the default model. Loaded once.

    ``"rules"`` (as a string or a path, as command lines pass it) is the rule-based pre-annotator, which
    has no directory.
    """
    if isinstance(model, NerModel):
        return model
    if model is not None and str(model) == RULES_ENGINE:
        from models.rules import load_rules_model

        return load_rules_model()
    path = Path(model) if model is not None else default_model_dir()
    meta = read_meta(path)
    key = (path.resolve(), (path / META_FILE).stat().st_mtime_ns)  # a rewritten model is loaded anew
    with _lock:
        if key not in _cache:
            _cache[key] = _engine_class(meta.engine)(path, meta, meta.schema)
        return _cache[key]
