"""Stable train/dev splits by document: a document's side depends only on its id."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from corpus.document import Document


def id_fraction(doc_id: str) -> float:
    """A number in [0, 1) fixed by the id alone."""
    return int(hashlib.sha1(doc_id.encode("utf-8")).hexdigest()[:12], 16) / 16**12


def split_documents(docs: Sequence[Document], dev_fraction: float) -> tuple[list[Document], list[Document]]:
    """(train, dev): dev holds the ids whose :func:`id_fraction` is below ``dev_fraction``, at least one."""
    if not 0 < dev_fraction < 1:
        raise ValueError(f"dev fraction must be between 0 and 1, not {dev_fraction}")
    if len(docs) < 2:
        raise ValueError(f"need at least 2 documents to split, got {len(docs)}")
    dev_ids = {d.id for d in docs if id_fraction(d.id) < dev_fraction}
    if not dev_ids:
        dev_ids = {min(docs, key=lambda d: id_fraction(d.id)).id}
    if len(dev_ids) == len(docs):
        dev_ids.remove(max(docs, key=lambda d: id_fraction(d.id)).id)
    return [d for d in docs if d.id not in dev_ids], [d for d in docs if d.id in dev_ids]
