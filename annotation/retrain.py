"""Retrain from what was just labeled: ``vner studio retrain`` and the ML backend's training event.

1. Pull the project (``annotation.export``: ground truth first; disputed tasks are left out until
   reviewed) and merge with the base gold file: a document in both (same NFC text, whatever its
   id) is taken once, from the project, whose annotation is the newer. Documents of the dev file
   are never trained on.
2. Train (``training.train_model``) into a new directory under ``<work dir>/models/studio/``.
3. Score it and the current model on the fixed dev file. The new model is *promoted* when its
   strict micro F1 is not lower: the default model (``LATEST``) then points at it; otherwise
   ``LATEST`` is put back as it was. The callers then make a promoted model the ML backend's
   (hot reload) and re-rank the queue with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from annotation.client import StudioClient
from annotation.export import DISPUTED, convert_export
from annotation.tasks import nfc
from corpus.document import Document
from corpus.jsonl import read_documents, write_documents
from corpus.paths import models_dir
from corpus.schema import load_schema
from models.base import NerModel


@dataclass
class RetrainPlan:
    """What a retraining uses: the base gold and dev files, the engine and its options."""

    base: Path
    dev: Path
    engine: str = "spacy"
    options: dict[str, Any] = field(default_factory=dict)  # for training.train_model (max_epochs, seed, ...)
    out_root: Path | None = None  # default: <work dir>/models/studio


@dataclass
class MergeCounts:
    base: int = 0  # documents of the base file kept
    studio: int = 0  # documents from the project
    replaced: int = 0  # base documents whose text the project also has (the project's annotation is used)
    dev_left_out: int = 0  # documents with the text of a dev document (never trained on)


@dataclass
class RetrainResult:
    model_dir: Path
    model_version: str
    promoted: bool
    reason: str
    before: dict[str, Any] | None  # scores of the current model on dev (``Scores.to_dict``)
    after: dict[str, Any]  # scores of the new model on dev
    counts: MergeCounts
    disputed: int  # project tasks left out because annotators disagree and nobody reviewed them
    seconds: float


def merge_gold(base: Sequence[Document], studio: Sequence[Document], dev: Sequence[Document] = ()
               ) -> tuple[list[Document], MergeCounts]:
    """Base documents not in the project, then the project's documents; matched by NFC text."""
    counts = MergeCounts()
    dev_texts = {nfc(d.text) for d in dev}
    studio_by_text = {nfc(d.text): d for d in studio}
    merged: list[Document] = []
    for doc in base:
        key = nfc(doc.text)
        if key in dev_texts:
            counts.dev_left_out += 1
        elif key in studio_by_text:
            counts.replaced += 1
        else:
            merged.append(doc)
            counts.base += 1
    for key, doc in studio_by_text.items():
        if key in dev_texts:
            counts.dev_left_out += 1
        else:
            merged.append(doc)
            counts.studio += 1
    return merged, counts


def micro_f1(scores: dict[str, Any] | None) -> float | None:
    return None if scores is None else float(scores["micro"]["f1"])


def retrain(client: StudioClient, project_id: int, plan: RetrainPlan, current: NerModel | str | Path | None,
            say: Callable[[str], None] = lambda _: None,
            guard: Callable[[], AbstractContextManager[Any]] = nullcontext) -> RetrainResult:
    """Pull, merge, train, compare with ``current`` on dev and promote the new model when not worse.

    ``current`` is scored inside ``guard()`` (the ML backend passes the lock of the model it serves).
    """
    from models.loading import latest_pointer
    from training import evaluate_model, train_model

    began = time.perf_counter()
    schema = load_schema()
    say(f"pulling project {project_id}")
    pulled = convert_export(client.export(project_id), schema)
    dev_docs = read_documents(plan.dev)
    merged, counts = merge_gold(read_documents(plan.base), pulled.documents, dev_docs)
    if not merged:
        raise ValueError(f"nothing to train on: {plan.base} and the project have no document outside {plan.dev}")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    run_dir = (plan.out_root or models_dir() / "studio") / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    train_path = run_dir / "train.jsonl"
    write_documents(train_path, merged)
    pointer = latest_pointer()
    previous = pointer.read_text(encoding="utf-8") if pointer.is_file() else None
    say(f"training {plan.engine} on {len(merged)} documents ({counts.studio} from the project, "
        f"{counts.base} from {plan.base.name})")
    trained = train_model(plan.engine, schema, train_path, plan.dev, run_dir / "model", **plan.options)
    after = trained.meta.metrics["dev"]
    before = None
    if current is not None:
        with guard():
            before = evaluate_model(current, dev_docs)[0].to_dict()
    if before is None:
        promoted, reason = True, "no current model to compare with"
    elif micro_f1(after) >= micro_f1(before):  # type: ignore[operator]
        promoted, reason = True, f"dev F1 {micro_f1(after):.4f} >= {micro_f1(before):.4f} of the current model"
    else:
        promoted, reason = False, f"dev F1 {micro_f1(after):.4f} < {micro_f1(before):.4f} of the current model"
    if not promoted:  # train_model pointed LATEST at the new model: put it back
        if previous is None:
            pointer.unlink(missing_ok=True)
        else:
            pointer.write_text(previous, encoding="utf-8")
    from models import load_model

    version = load_model(run_dir / "model").version
    return RetrainResult(run_dir / "model", version, promoted, reason, before, after, counts,
                         len(pulled.of(DISPUTED)), time.perf_counter() - began)


def per_label_rows(result: RetrainResult) -> list[tuple[str, float | None, float]]:
    """``(label, F1 before, F1 after)`` per label, then ``micro``."""
    rows = []
    for label, values in result.after["per_label"].items():
        old = result.before["per_label"].get(label, {}).get("f1") if result.before else None
        rows.append((label, old, float(values["f1"])))
    rows.append(("micro", micro_f1(result.before), float(micro_f1(result.after) or 0.0)))
    return rows


def summary(result: RetrainResult) -> dict[str, Any]:
    """What the backend's ``/health`` shows of a finished retraining."""
    return {"model_dir": str(result.model_dir), "model_version": result.model_version, "promoted": result.promoted,
            "reason": result.reason, "f1_before": micro_f1(result.before), "f1_after": micro_f1(result.after),
            "documents": vars(result.counts), "disputed_left_out": result.disputed,
            "seconds": round(result.seconds, 1)}
