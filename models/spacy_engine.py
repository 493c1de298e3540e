"""The spaCy engine: a ``vi`` pipeline with a NER component, on syllable tokens."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import spacy
from spacy.tokens import Doc
from spacy.util import get_words_and_spaces
from spacy.vocab import Vocab
from thinc.api import Ops, get_current_ops, use_ops
from thinc.types import Ragged

from corpus.document import Span
from corpus.schema import LabelSchema
from corpus.text import WORD, paragraph_bounds
from models.base import NerModel

ENGINE = "spacy"
PIPELINE_DIR = "pipeline"
TOKENIZER_NAME = "vner.syllable_tokenizer.v1"
SUGGESTER_NAME = "vner.value_ngram_suggester.v1"
SPANS_KEY = "spans"  # doc.spans key of the span categorizer (labels whose spans are long: TARGET)


def numpy_matmul_ops() -> Any:
    """A context in which new thinc layers multiply matrices with numpy (OpenBLAS, all cores), not blis.

    thinc's own blis gemm runs on one core: a (6000 x 288) x (288 x 288) float32 product took
    29.5 ms there and 5.5 ms with numpy on this 2-core machine, and the pipeline's words/s went from
    15,600 to 25,700 with the same entities. Layers keep the ops they were built with. Training
    stays on blis: two runs with numpy products scored 0.862 and 0.866 on dev where blis runs scored
    0.872-0.873 (not understood; they were 30-45% faster).
    """
    return use_ops("numpy", use_blis=False)


class SyllableTokenizer:
    """Splits Vietnamese text into syllables, numbers and single symbols; keeps exact offsets."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words, spaces = get_words_and_spaces(WORD.findall(text), text)
        return Doc(self.vocab, words=words, spaces=spaces)

    def to_bytes(self, **_: Any) -> bytes:
        return b""

    def from_bytes(self, _data: bytes, **_: Any) -> SyllableTokenizer:
        return self

    def to_disk(self, _path: Path, **_: Any) -> None:
        return None

    def from_disk(self, _path: Path, **_: Any) -> SyllableTokenizer:
        return self


@spacy.registry.tokenizers(TOKENIZER_NAME)
def create_syllable_tokenizer():
    def make(nlp: spacy.Language) -> SyllableTokenizer:
        return SyllableTokenizer(nlp.vocab)

    return make


def value_ngrams(docs: Iterable[Doc], *, max_size: int, ops: Ops | None = None) -> Ragged:
    """Candidate spans for the span categorizer: every n-gram of up to ``max_size`` tokens holding a number.

    A planned value (TARGET) always states one, so this keeps the candidates few: n-grams over
    lines without a number are never scored.
    """
    ops = ops or get_current_ops()
    sizes = np.arange(1, max_size + 1)
    found, lengths = [], []
    for doc in docs:
        numbers = np.concatenate([[0], np.cumsum([token.like_num for token in doc])])
        starts = np.arange(len(doc))[:, None]
        ends = starts + sizes[None, :]
        inside = ends <= len(doc)
        keep = inside & (numbers[np.minimum(ends, len(doc))] - numbers[starts] > 0)
        pairs = np.stack([np.broadcast_to(starts, ends.shape)[keep], ends[keep]], axis=1).astype("i")
        found.append(pairs)
        lengths.append(len(pairs))
    data: Any = np.concatenate(found) if found else np.zeros((0, 2), dtype="i")  # int32 (n, 2)
    return Ragged(ops.asarray2i(data), ops.asarray1i(lengths))


@spacy.registry.misc(SUGGESTER_NAME)
def create_value_suggester(max_size: int) -> Callable[..., Ragged]:
    return functools.partial(value_ngrams, max_size=max_size)


def merge_span_predictions(doc: Doc) -> list[tuple[int, int, str]]:
    """Token spans ``(start, end, label)`` of a doc: the span categorizer's best non-overlapping spans,
    then the NER's entities that overlap none of them."""
    chosen: list[tuple[int, int, str]] = []
    group = doc.spans.get(SPANS_KEY)
    if group is not None and len(group):
        scores = group.attrs.get("scores")  # (n,) from a single-label categorizer, (n, labels) from a multi-label one
        best = np.asarray(scores).reshape(len(group), -1).max(axis=1) if scores is not None else np.zeros(len(group))
        order = np.argsort(-best, kind="stable")
        for index in order:
            span = group[int(index)]
            if all(span.end <= a or b <= span.start for a, b, _ in chosen):
                chosen.append((span.start, span.end, span.label_))
    kept = [(e.start, e.end, e.label_) for e in doc.ents if all(e.end <= a or b <= e.start for a, b, _ in chosen)]
    return sorted(kept + chosen)


class SpacyModel(NerModel):
    engine = ENGINE

    def __init__(self, path: Path, meta: dict[str, Any], schema: LabelSchema):
        super().__init__(path, meta, schema)
        with numpy_matmul_ops():
            self.nlp = spacy.load(path / PIPELINE_DIR)

    def predict_normalized(self, texts: list[str]) -> list[list[Span]]:
        """Runs the pipeline line by line (as it was trained) and shifts spans back into each text."""
        lines = [(i, start, text[start:end]) for i, text in enumerate(texts) for start, end in paragraph_bounds(text)]
        found: list[list[Span]] = [[] for _ in texts]
        for (i, offset, _), doc in zip(lines, self.nlp.pipe(line for _, _, line in lines), strict=True):
            found[i] += [
                Span(doc[start].idx + offset, doc[end - 1].idx + len(doc[end - 1]) + offset, label)
                for start, end, label in merge_span_predictions(doc)
                if label in self.schema
            ]
        return found
