"""The spaCy engine: a ``vi`` pipeline with a NER component, on syllable tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import spacy
from spacy.tokens import Doc
from spacy.util import get_words_and_spaces
from spacy.vocab import Vocab
from thinc.api import use_ops

from corpus.document import Span
from corpus.schema import LabelSchema
from corpus.text import WORD, paragraph_bounds
from models.base import NerModel
from models.card import ModelMeta

ENGINE = "spacy"
PIPELINE_DIR = "pipeline"
TOKENIZER_NAME = "vner.syllable_tokenizer.v1"


def numpy_matmul_ops() -> Any:
    """A context in which new thinc layers multiply matrices with numpy (OpenBLAS, all cores), not blis.

    thinc's own blis gemm runs on one core: a (6000 x 288) x (288 x 288) float32 product took
    29.5 ms there and 5.5 ms with numpy on this 2-core machine, and the pipeline's words/s went from
    15,600 to 25,700 with the same entities. Layers keep the ops they were built with. Training
    stays on blis: two runs with numpy products scored 0.862 and 0.866 on dev where blis runs scored
    0.872-0.873 (not understood; they were 30-45% faster). On train + seeds, three seeds trained on
    numpy products took 266-314 s instead of 510-534 CPU-s but scored 0.850 +- 0.008 against
    0.853 +- 0.008, OFFICIAL and POSITION 1.6 and 3.1 points lower with every seed.
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


class SpacyModel(NerModel):
    engine = ENGINE

    def __init__(self, path: Path, meta: ModelMeta, schema: LabelSchema):
        super().__init__(path, meta, schema)
        with numpy_matmul_ops():
            self.nlp = spacy.load(path / PIPELINE_DIR)

    def predict_normalized(self, texts: list[str]) -> list[list[Span]]:
        """Runs the pipeline line by line (as it was trained) and shifts spans back into each text."""
        lines = [(i, start, text[start:end]) for i, text in enumerate(texts) for start, end in paragraph_bounds(text)]
        found: list[list[Span]] = [[] for _ in texts]
        for (i, offset, _), doc in zip(lines, self.nlp.pipe(line for _, _, line in lines), strict=True):
            found[i] += [
                Span(ent.start_char + offset, ent.end_char + offset, ent.label_)
                for ent in doc.ents
                if ent.label_ in self.schema
            ]
        return found
