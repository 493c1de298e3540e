"""``vner train`` end to end: check the gold files, train an engine, score on dev, describe the model, promote it."""

from __future__ import annotations

import hashlib
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from corpus.document import Document
from corpus.files import staged_dir
from corpus.gold import GoldError, GoldProblem, read_gold
from corpus.schema import LabelSchema
from models.card import DataFile, ModelDirError, ModelMeta, read_meta, write_meta
from models.loading import latest_pointer, trained_default
from training import ENGINES, PROMOTE
from training.evaluate import evaluate
from training.hf_train import train_hf
from training.model_card import write_card
from training.spacy_train import train_spacy


def describe_file(path: Path, docs: Sequence[Document]) -> DataFile:
    """Path, content hash and size of a gold file (recorded in a model's meta and card)."""
    return DataFile(
        path=str(path),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        documents=len(docs),
        entities=sum(len(d.spans) for d in docs),
    )


@dataclass(frozen=True)
class TrainedModel:
    """What :func:`train_model` wrote (``meta``, as in ``vner-model.json``) and what it did to the default model."""

    meta: ModelMeta
    default: str


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


def dev_f1(model_dir: Path, dev: DataFile, dev_docs: Sequence[Document]) -> float | None:
    """Micro F1 of ``model_dir`` on the dev file described by ``dev`` (:func:`describe_file`); None if it won't load.

    A model whose card records scores on a file with the same content is not scored again: its
    record is the figure.
    """
    try:
        meta = read_meta(model_dir)
        recorded, f1 = meta.data.get("dev"), meta.micro_f1("dev")
        if recorded is not None and recorded.sha256 == dev.sha256 and f1 is not None:
            return f1
        return evaluate(str(model_dir), dev_docs)[0].micro()["f1"]
    except (ModelDirError, OSError):
        return None


def promote_to_default(
    model_dir: Path, dev: DataFile, dev_docs: Sequence[Document], f1: float, *, when: str = "if-better"
) -> str:
    """Point ``LATEST`` at ``model_dir`` as ``when`` says; returns what it did.

    ``if-better``: unless the model trained before (:func:`~models.loading.trained_default`) scores better on
    the same dev file (:func:`dev_f1`); a default that no longer loads is replaced. The shipped model is never
    compared: it is what ``predict`` uses until a first model is trained, and a dev file drawn from its own
    training data (the seeds, the shared gold) would keep it the default for ever.
    """
    if when not in PROMOTE:
        raise ValueError(f"promote must be one of {', '.join(PROMOTE)}, not {when!r}")
    if when == "never":
        return f"{model_dir} written; the default model is unchanged"
    current = trained_default()
    if current is not None and when == "if-better" and current.resolve() != model_dir.resolve():
        old_f1 = dev_f1(current, dev, dev_docs)
        if old_f1 is not None and f1 < old_f1:
            return (f"the default model stays {current} (dev F1 {old_f1:.3f} on the same dev file, this one "
                    f"{f1:.3f}); pass --promote always to make this one the default")
    pointer = latest_pointer()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    staging = pointer.with_name(f".{pointer.name}.tmp")
    staging.write_text(str(model_dir.resolve()) + "\n", encoding="utf-8")
    os.replace(staging, pointer)
    return f"{model_dir} is now the default model"


def train_model(
    engine: str,
    schema: LabelSchema,
    train_path: Path,
    dev_path: Path,
    out_dir: Path,
    *,
    promote: str = "if-better",
    **options: Any,
) -> TrainedModel:
    """Train ``engine`` on ``train_path``, score it on ``dev_path``, write model dir; returns its meta.

    Both files are checked first (:func:`corpus.gold.read_gold`). The model is built in a staging
    directory that replaces ``out_dir`` only once trained and scored, and it becomes the default
    model (``LATEST``) as ``promote`` says (:func:`promote_to_default`: by default only if it does
    not score worse on dev than the current one; ``default`` says what happened). ``options`` go to the
    engine's trainer as they are: ``train_spacy`` (max_epochs, seed, ...) or ``train_hf``
    (backbone, epochs, lr, batch_size, precision, ...). The transformers trainer reports its
    resolved settings, which are recorded instead.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if promote not in PROMOTE:
        raise ValueError(f"promote must be one of {', '.join(PROMOTE)}, not {promote!r}")
    train_docs, dev_docs = read_gold(train_path, schema), read_gold(dev_path, schema)
    if not any(doc.spans for doc in train_docs):
        raise GoldError([GoldProblem(str(train_path), None, "no entity spans to learn from")])
    out_dir = Path(out_dir)
    started = time.perf_counter()
    with staged_dir(out_dir) as work:
        if engine == "transformers":
            result = train_hf(train_docs, dev_docs, schema, work, **options)
            report, settings = result.report, result.settings
        else:
            report, settings = train_spacy(train_docs, dev_docs, schema, work, **options), options
        seconds = time.perf_counter() - started
        meta = ModelMeta(
            engine=engine,
            schema=schema,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            data={"train": describe_file(train_path, train_docs), "dev": describe_file(dev_path, dev_docs)},
            alignment=report.summary(),
            training={**_json_safe(settings), "seconds": round(seconds, 1)},
            versions=_versions(),
        )
        write_meta(work, meta)
        scores, _ = evaluate(str(work), dev_docs)
        meta = replace(meta, metrics={"dev": scores.to_dict()})
        write_meta(work, meta)
        write_card(work, meta)
    default = promote_to_default(out_dir, meta.data["dev"], dev_docs, scores.micro()["f1"], when=promote)
    return TrainedModel(meta, default)
