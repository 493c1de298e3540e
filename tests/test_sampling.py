"""Oversampling of rare labels, shared by both trainers."""

from __future__ import annotations

from corpus.document import Document, Span
from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from training.alignment import AlignmentReport
from training.sampling import rare_labels
from training.spacy_train import blank_pipeline, to_docbin


def test_rare_labels_are_relative_to_the_mean() -> None:
    spans = [Span(0, 1, "UNIT")] * 40 + [Span(0, 1, "DATE")] * 4 + [Span(0, 1, "FIGURE")] * 16
    docs = [Document(id="d", text="x", spans=spans)]
    assert rare_labels(docs, ["UNIT", "DATE", "FIGURE"]) == ["DATE"]  # 4 < 60 / 3 / 4
    # over seven labels a quarter of the mean is 60 / 7 / 4 = 2.1: nothing is rare, and absent labels never are
    assert rare_labels(docs, ["UNIT", "DATE", "FIGURE", "TARGET", "LOCATION", "OFFICIAL", "POSITION"]) == []
    assert rare_labels([], ["UNIT"]) == []


def test_spacy_lines_with_a_rare_label_are_repeated() -> None:
    seeds = read_documents(BUNDLED_GOLD_FILE)
    assert rare_labels(seeds, load_schema().names) == ["TARGET"]
    nlp = blank_pipeline()
    plain = list(to_docbin(seeds, nlp, AlignmentReport()).get_docs(nlp.vocab))
    boosted = list(to_docbin(seeds, nlp, AlignmentReport(), boost=["TARGET"], repeats=3).get_docs(nlp.vocab))
    with_target = [doc for doc in plain if any(ent.label_ == "TARGET" for ent in doc.ents)]
    assert with_target and len(boosted) == len(plain) + 2 * len(with_target)
    assert sum(doc.text == with_target[0].text for doc in boosted) == 3
