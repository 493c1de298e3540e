"""The label learning curve: nested training subsets and one table row per share of articles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.document import Document, Span
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.stats import corpus_stats
from training.label_curve import label_subsets


def _doc(index: int, targets: int) -> Document:
    spans = [Span(0, 1, "UNIT")] + [Span(2 + i, 3 + i, "TARGET") for i in range(targets)]
    return Document(id=f"d{index}", text="x" * 40, spans=spans)


corpora = (
    st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=30)
    .filter(any)
    .map(lambda counts: [_doc(i, n) for i, n in enumerate(counts)])
)
shares = st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=1, max_size=5, unique=True).map(sorted)


@settings(max_examples=200, deadline=None)
@given(corpora, shares, st.integers(min_value=0, max_value=5))
def test_subsets_keep_every_other_article_and_grow_by_nesting(docs, fractions, sample_seed) -> None:
    subsets = label_subsets(docs, "TARGET", [*fractions, 1.0], sample_seed)
    others = [doc.id for doc in docs if not corpus_stats([doc]).entities["TARGET"]]
    holding = len(docs) - len(others)
    assert Counter(doc.id for doc in subsets[1.0]) == Counter(doc.id for doc in docs)
    previous: set[str] = set()
    for fraction in fractions:
        ids = [doc.id for doc in subsets[fraction]]
        assert len(ids) == len(set(ids)) and set(others) <= set(ids)
        assert len(ids) - len(others) == max(1, round(holding * fraction))
        assert previous <= set(ids)  # a larger share holds every smaller one's articles
        previous = set(ids)
    assert label_subsets(docs, "TARGET", fractions, sample_seed) == {f: subsets[f] for f in fractions}


def test_bad_shares_and_an_absent_label_are_refused() -> None:
    docs = [_doc(0, 1), _doc(1, 0)]
    with pytest.raises(ValueError, match="fractions"):
        label_subsets(docs, "TARGET", [0.0, 1.0])
    with pytest.raises(ValueError, match="fractions"):
        label_subsets(docs, "TARGET", [1.5])
    with pytest.raises(ValueError, match="no training document holds a DATE span"):
        label_subsets(docs, "DATE", [1.0])


def test_curve_trains_each_share_and_reports_the_label(tmp_path: Path) -> None:
    seeds = read_documents(BUNDLED_GOLD_FILE)
    write_documents(tmp_path / "train.jsonl", seeds[:3])
    write_documents(tmp_path / "dev.jsonl", seeds[4:])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.label_curve",
            "--engine",
            "spacy",
            "--train",
            str(tmp_path / "train.jsonl"),
            "--dev",
            str(tmp_path / "dev.jsonl"),
            "--label",
            "FIGURE",
            "--fractions",
            "0.34",
            "1",
            "--seeds",
            "0",
            "--out",
            str(tmp_path / "curve"),
            "--set",
            "max_epochs=2",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "VNER_HOME": str(tmp_path / "home")},
    )
    points = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert [p["documents"] for p in points] == [1, 3]
    assert points[1]["label_spans"] == corpus_stats(seeds[:3]).entities["FIGURE"] > points[0]["label_spans"] > 0
    for point, name in zip(points, ("pct-34", "pct-100"), strict=True):
        assert (
            corpus_stats(read_documents(tmp_path / "curve" / f"{name}.jsonl")).entities["FIGURE"]
            == point["label_spans"]
        )
        trained = json.loads((tmp_path / "curve" / name / "seed-0.json").read_text())
        assert trained["train_documents"] == point["documents"]
        assert point["label_f1"]["mean"] == pytest.approx(trained["dev_f1_per_label"]["FIGURE"])
        assert (
            f"| {point['documents']} | {point['label_spans']} | {point['label_f1']['mean']:.3f} ± 0.000 |" in run.stdout
        )
    assert (tmp_path / "curve" / "curve.png").read_bytes().startswith(b"\x89PNG")
