"""Gold documents in other toolkits' formats and back: CoNLL-2003 BIO, a ``datasets.DatasetDict``, a spaCy ``DocBin``.

All three use the engines' own tokens (:func:`corpus.text.split_words`: syllables, numbers, single
symbols) and one sentence per non-blank line of the text (:func:`corpus.text.paragraph_bounds`),
as both engines train. A gold span whose edges fall inside a token cannot be written as BIO: it is
counted in the :class:`~training.alignment.AlignmentReport` (never dropped silently), and so is a
span that runs across a line break (the gold files have a few: "TP.\nHồ Chí Minh"). Every format
reads back to the same character spans (:func:`read_conll`, :func:`read_hf`, :func:`read_spacy`).

- ``conll``: ``-DOCSTART- -X- -X- O`` before each document, then ``token -X- _ TAG`` lines, a blank
  line after each sentence (the layout of CoNLL-2003 and of ``datasets``' ``conll2003`` loader).
  Whitespace is not in the format, so reading back aligns the tokens to the documents' texts.
- ``hf``: ``DatasetDict`` (``train``, and ``validation`` when a dev file is given) with columns
  ``id``, ``line``, ``tokens``, ``ner_tags`` (a ``ClassLabel`` sequence: what ``run_ner.py``
  reads), and ``starts``/``ends`` (each token's character offsets in the document).
- ``spacy``: one ``Doc`` per line with its entities; ``user_data`` holds the document id and the
  line's offset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from corpus.document import Document, Span
from corpus.schema import LabelSchema
from corpus.text import paragraph_bounds, split_words
from models.hf_engine import decode_tags
from training.alignment import AlignmentReport
from training.bio import word_tags

FORMATS = ("conll", "hf", "spacy")
SPLITS = ("train", "validation")  # the DatasetDict's names; files are named train.* and dev.*
FILE_STEMS = {"train": "train", "validation": "dev"}
DOCSTART = "-DOCSTART- -X- -X- O"


class FormatMismatch(ValueError):
    """An exported file does not fit the documents it is read back against."""


@dataclass(frozen=True)
class Sentence:
    """One line of a document as tokens: character ``(start, end)`` offsets in the document and BIO tags."""

    doc_id: str
    line: int
    words: list[tuple[int, int]]
    tags: list[str]


def sentences(doc: Document, schema: LabelSchema, report: AlignmentReport | None = None) -> list[Sentence]:
    """The document's lines as tagged token sequences.

    A span whose edges fall inside a token, or that runs across a line break, goes to ``report``.
    """
    lines = paragraph_bounds(doc.text)
    within, across = [], []
    for span in doc.spans:
        inside = any(start <= span.start and span.end <= end for start, end in lines)
        (within if inside else across).append(span)
    for span in across:
        if report is not None:
            report.add(span.label, False, f"{doc.id} [{span.start}:{span.end}] crosses a line break")
    words = split_words(doc.text)
    tags = word_tags(doc.text, words, within, report, doc_id=doc.id, labels=schema.names)
    out: list[Sentence] = []
    position = 0
    for line, (_, end) in enumerate(lines):
        first = position
        while position < len(words) and words[position][1] <= end:
            position += 1
        if position > first:
            out.append(Sentence(doc.id, line, words[first:position], tags[first:position]))
    return out


# ---------------------------------------------------------------------------------------------- CoNLL


def write_conll(path: Path, docs: Sequence[Document], schema: LabelSchema, report: AlignmentReport) -> int:
    """Write ``docs`` as CoNLL-2003 BIO; returns the number of sentences."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(f"{DOCSTART}\n\n")
            for sentence in sentences(doc, schema, report):
                for (start, end), tag in zip(sentence.words, sentence.tags, strict=True):
                    handle.write(f"{doc.text[start:end]} -X- _ {tag}\n")
                handle.write("\n")
                count += 1
    return count


def _conll_documents(path: Path) -> Iterator[list[tuple[str, str]]]:
    """(token, tag) pairs of each ``-DOCSTART-`` block."""
    current: list[tuple[str, str]] | None = None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if line.startswith("-DOCSTART-"):
                if current is not None:
                    yield current
                current = []
            elif line.strip():
                fields = line.split(" ")
                if current is None or len(fields) < 2:
                    raise FormatMismatch(f"{path}:{number}: expected 'TOKEN ... TAG' after a -DOCSTART- line")
                current.append((fields[0], fields[-1]))
    if current is not None:
        yield current


def read_conll(path: Path, docs: Sequence[Document]) -> list[list[Span]]:
    """Spans of each document from a CoNLL file written for ``docs`` (same order), by aligning the tokens."""
    blocks = list(_conll_documents(path))
    if len(blocks) != len(docs):
        raise FormatMismatch(f"{path}: {len(blocks)} documents, but {len(docs)} texts to align them to")
    out = []
    for doc, block in zip(docs, blocks, strict=True):
        words = split_words(doc.text)
        tokens = [doc.text[a:b] for a, b in words]
        if tokens != [token for token, _ in block]:
            raise FormatMismatch(f"{path}: the tokens of document {doc.id} do not match its text")
        out.append(decode_tags(doc.text, words, [tag for _, tag in block]))
    return out


# ---------------------------------------------------------------------------------------------- datasets


def hf_features(schema: LabelSchema):
    """The ``datasets.Features`` of an exported split: ``ner_tags`` is a ``ClassLabel`` sequence of the BIO tags."""
    from datasets import ClassLabel, Features, Sequence, Value

    return Features({
        "id": Value("string"),
        "line": Value("int32"),
        "tokens": Sequence(Value("string")),
        "ner_tags": Sequence(ClassLabel(names=schema.bio_tags())),
        "starts": Sequence(Value("int32")),
        "ends": Sequence(Value("int32")),
    })


def hf_dataset(docs: Sequence[Document], schema: LabelSchema, report: AlignmentReport):
    """One ``datasets.Dataset`` row per sentence."""
    from datasets import Dataset

    rows: dict[str, list] = defaultdict(list)
    for doc in docs:
        for sentence in sentences(doc, schema, report):
            rows["id"].append(doc.id)
            rows["line"].append(sentence.line)
            rows["tokens"].append([doc.text[a:b] for a, b in sentence.words])
            rows["ner_tags"].append(sentence.tags)
            rows["starts"].append([a for a, _ in sentence.words])
            rows["ends"].append([b for _, b in sentence.words])
    features = hf_features(schema)
    return Dataset.from_dict({key: rows[key] for key in features}, features=features)


def read_hf(split) -> dict[str, list[Span]]:
    """Spans per document id from one exported split (a ``datasets.Dataset``)."""
    names = split.features["ner_tags"].feature.names
    found: dict[str, list[Span]] = defaultdict(list)
    for row in split:
        words = list(zip(row["starts"], row["ends"], strict=True))
        tags = [names[i] for i in row["ner_tags"]]
        found[row["id"]] += decode_tags("", words, tags)  # one line: no line break can split an entity
    return dict(found)


# ---------------------------------------------------------------------------------------------- spaCy


def spacy_docbin(docs: Sequence[Document], report: AlignmentReport):
    """A ``DocBin`` of one ``Doc`` per line, the document id and line offset in each ``user_data``."""
    from training.spacy_train import blank_pipeline, to_docbin

    return to_docbin(docs, blank_pipeline(), report)


def read_spacy(path: Path) -> dict[str, list[Span]]:
    """Spans per document id from an exported ``DocBin``."""
    from spacy.tokens import DocBin

    from training.spacy_train import blank_pipeline

    found: dict[str, list[Span]] = defaultdict(list)
    for sdoc in DocBin().from_disk(path).get_docs(blank_pipeline().vocab):
        offset = sdoc.user_data["offset"]
        found[sdoc.user_data["doc_id"]] += [
            Span(ent.start_char + offset, ent.end_char + offset, ent.label_) for ent in sdoc.ents
        ]
    return dict(found)


# ---------------------------------------------------------------------------------------------- export


def export(
    splits: dict[str, Sequence[Document]], fmt: str, out_dir: Path, schema: LabelSchema
) -> tuple[list[Path], AlignmentReport]:
    """Write ``splits`` (``train`` and optionally ``validation``) in ``fmt`` under ``out_dir``; the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = AlignmentReport()
    if fmt == "hf":
        from datasets import DatasetDict

        DatasetDict({name: hf_dataset(docs, schema, report) for name, docs in splits.items()}).save_to_disk(out_dir)
        return [out_dir], report
    written = []
    for name, docs in splits.items():
        path = out_dir / f"{FILE_STEMS[name]}.{fmt}"
        if fmt == "conll":
            write_conll(path, docs, schema, report)
        else:
            spacy_docbin(docs, report).to_disk(path)
        written.append(path)
    return written, report
