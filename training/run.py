"""``vner train`` end to end: read gold, split, train an engine, score on dev, describe the model."""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from corpus.document import Document
from corpus.jsonl import read_documents
from corpus.schema import LabelSchema
from models.card import write_meta
from models.loading import latest_pointer
from training import ENGINES
from training.evaluate import evaluate
from training.hf_train import train_hf
from training.model_card import write_card
from training.spacy_train import train_spacy


def _describe(path: Path, docs: Sequence[Document]) -> dict[str, Any]:
    return {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "documents": len(docs),
        "entities": sum(len(d.spans) for d in docs),
    }


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("vner", "spacy", "torch", "transformers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def _json_safe(value: Any) -> Any:
    """Option values as JSON can hold them (paths become strings)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def train_model(
    engine: str,
    schema: LabelSchema,
    train_path: Path,
    dev_path: Path,
    out_dir: Path,
    **options: Any,
) -> dict[str, Any]:
    """Train ``engine`` on ``train_path``, score it on ``dev_path``, write model dir; returns its meta.

    ``options`` go to the engine's trainer as they are: ``train_spacy`` (max_epochs, seed, ...) or
    ``train_hf`` (backbone, epochs, lr, batch_size, max_length, stride, freeze_embeddings, threads,
    seed, ...). The transformers trainer reports its resolved settings, which are recorded instead.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    train_docs, dev_docs = read_documents(train_path), read_documents(dev_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if engine == "transformers":
        result = train_hf(train_docs, dev_docs, schema, out_dir, **options)
        report, settings = result.report, result.settings
    else:
        report, settings = train_spacy(train_docs, dev_docs, schema, out_dir, **options), options
    seconds = time.perf_counter() - started
    meta: dict[str, Any] = {
        "engine": engine,
        "schema": schema.to_dict(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {"train": _describe(train_path, train_docs), "dev": _describe(dev_path, dev_docs)},
        "alignment": report.summary(),
        "training": {**_json_safe(settings), "seconds": round(seconds, 1)},
        "versions": _versions(),
    }
    write_meta(out_dir, meta)
    scores, _ = evaluate(str(out_dir), dev_docs)
    meta["metrics"] = {"dev": scores.to_dict()}
    write_meta(out_dir, meta)
    write_card(out_dir, meta)
    pointer = latest_pointer()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(str(out_dir.resolve()) + "\n", encoding="utf-8")
    return meta
