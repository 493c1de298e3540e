"""Training and evaluation of NER models from gold files.

Other packages (``annotation``) use only the entry points below; each imports the engines when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corpus.document import Document, Span
    from corpus.schema import LabelSchema
    from corpus.scoring import Scores
    from models.base import NerModel
    from training.run import TrainedModel

ENGINES = ("spacy", "transformers")  # what `vner train` can train
PROMOTE = ("if-better", "always", "never")  # when a newly trained model becomes the default (LATEST)


def train_model(
    engine: str, schema: LabelSchema, train_path: Path, dev_path: Path, out_dir: Path, **options: Any
) -> TrainedModel:
    """Train ``engine`` and write the model directory ``out_dir``; returns its meta (see ``training.run``)."""
    from training.run import train_model as run

    return run(engine, schema, train_path, dev_path, out_dir, **options)


def evaluate_model(model: NerModel | str, docs: Sequence[Document]) -> tuple[Scores, list[list[Span]]]:
    """Strict and partial scores of ``model`` on gold ``docs``, and its predictions (see ``training.evaluate``)."""
    from training.evaluate import evaluate

    return evaluate(model, docs)


def option_pair(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of a command line as a trainer option (the value read as JSON when it parses)."""
    from training.options import key_value

    return key_value(text)
