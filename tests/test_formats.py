"""Researchers' formats: CoNLL, a datasets.DatasetDict and a spaCy DocBin each read back to the gold spans."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from corpus.document import Document, Span
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from training.formats import export, read_conll, read_hf, read_spacy

SEEDS = read_documents(BUNDLED_GOLD_FILE)
TRAIN, DEV = SEEDS[:4], SEEDS[4:]


def _gold(docs: list[Document]) -> dict[str, list[Span]]:
    return {doc.id: sorted(doc.spans) for doc in docs}


def test_conll_round_trips_to_the_same_character_spans(tmp_path: Path) -> None:
    written, report = export({"train": TRAIN, "validation": DEV}, "conll", tmp_path, load_schema())
    assert [p.name for p in written] == ["train.conll", "dev.conll"]
    assert not report.misaligned
    for path, docs in ((written[0], TRAIN), (written[1], DEV)):
        spans = read_conll(path, docs)
        assert {doc.id: sorted(found) for doc, found in zip(docs, spans, strict=True)} == _gold(docs)
    lines = written[0].read_text(encoding="utf-8").splitlines()
    assert lines[0] == "-DOCSTART- -X- -X- O"
    assert sum(line.startswith("-DOCSTART-") for line in lines) == len(TRAIN)
    tags = {line.split(" ")[-1] for line in lines if line and not line.startswith("-DOCSTART-")}
    assert {"B-OFFICIAL", "I-OFFICIAL", "O"} <= tags <= set(load_schema().bio_tags())


def test_hf_dataset_dict_has_class_labels_and_round_trips(tmp_path: Path) -> None:
    from datasets import load_from_disk

    export({"train": TRAIN, "validation": DEV}, "hf", tmp_path, load_schema())
    data = load_from_disk(str(tmp_path))
    assert set(data) == {"train", "validation"}
    assert data["train"].features["ner_tags"].feature.names == load_schema().bio_tags()
    assert read_hf(data["train"]) == _gold(TRAIN)
    assert read_hf(data["validation"]) == _gold(DEV)
    row = data["train"][0]
    doc = next(d for d in TRAIN if d.id == row["id"])
    assert row["tokens"] == [doc.text[a:b] for a, b in zip(row["starts"], row["ends"], strict=True)]


def test_spacy_docbin_round_trips(tmp_path: Path) -> None:
    written, _ = export({"train": SEEDS}, "spacy", tmp_path, load_schema())
    assert read_spacy(written[0]) == _gold(SEEDS)


def test_a_span_inside_a_token_is_reported_not_silently_changed(tmp_path: Path) -> None:
    doc = Document("x", "Huyện ủy Hậu Lộc họp.", spans=[Span(9, 11, "UNIT"), Span(0, 8, "UNIT")])  # "Hậ|u" cut
    written, report = export({"train": [doc]}, "conll", tmp_path, load_schema())
    assert report.misaligned["UNIT"] == 1
    assert read_conll(written[0], [doc]) == [[Span(0, 8, "UNIT")]]


def test_cli_exports_two_files_as_train_and_dev(tmp_path: Path, vner: str) -> None:
    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    write_documents(train, TRAIN)
    write_documents(dev, DEV)
    done = subprocess.run([vner, "corpus", "export", str(train), str(dev), "--format", "conll", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "train.conll").is_file() and (tmp_path / "out" / "dev.conll").is_file()
    bad = subprocess.run([vner, "corpus", "export", str(train), "--format", "iob", "--out", str(tmp_path / "o2")],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "conll" in bad.stderr


@pytest.mark.parametrize("fmt", ["conll", "hf", "spacy"])
def test_every_gold_file_round_trips(shared: Path, tmp_path: Path, fmt: str) -> None:
    docs = read_documents(shared / "gold" / "dev.jsonl")
    written, report = export({"train": docs}, fmt, tmp_path, load_schema())
    if fmt == "conll":
        found = dict(zip((d.id for d in docs), read_conll(written[0], docs), strict=True))
    elif fmt == "hf":
        from datasets import load_from_disk

        found = read_hf(load_from_disk(str(tmp_path))["train"])
    else:
        found = read_spacy(written[0])
    expected = {doc.id: sorted(doc.spans) for doc in docs}
    missing = sum(report.misaligned.values())
    assert sum(len(v) for v in expected.values()) - sum(len(v) for v in found.values()) == missing
    assert all(set(found.get(doc_id, [])) <= set(spans) for doc_id, spans in expected.items())
