"""Train the spaCy engine: gold documents -> DocBin -> generated config -> ``spacy train``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin

from corpus.document import Document, Span
from corpus.files import staged_dir
from corpus.schema import LabelSchema
from corpus.text import paragraph_bounds
from models.spacy_engine import PIPELINE_DIR, TOKENIZER_NAME
from training.alignment import AlignmentReport
from training.sampling import DEFAULT_RARE_REPEATS, rare_labels

CONFIG_FILE = Path(__file__).resolve().parent / "configs" / "spacy_ner.cfg"
KEEP = ("best", "last")  # which of spaCy's saved pipelines becomes the model
TOKENIZERS = {
    "syllable": {"@tokenizers": TOKENIZER_NAME},
    "pyvi": {"@tokenizers": "spacy.vi.VietnameseTokenizer", "use_pyvi": True},
}


class SpacyTrainingError(RuntimeError):
    """spaCy refused the configuration or the data."""


def blank_pipeline(tokens: str = "syllable") -> spacy.Language:
    return spacy.blank("vi", config={"nlp": {"tokenizer": TOKENIZERS[tokens]}})


def to_docbin(
    docs: Sequence[Document],
    nlp: spacy.Language,
    report: AlignmentReport,
    alignment: str = "strict",
    boost: Sequence[str] = (),
    repeats: int = 1,
) -> DocBin:
    """One spaCy doc a line, with gold entities; spans that fit no line or token boundary go to ``report``.

    With ``alignment="expand"`` a span inside tokens is widened to them (and still reported). A
    line holding an entity of a ``boost`` label is added ``repeats`` times. Each doc's ``user_data``
    holds its document id and the line's offset.
    """
    out = DocBin(store_user_data=True)
    for doc in docs:
        placed: set[Span] = set()
        for start, end in paragraph_bounds(doc.text):
            sdoc = nlp.make_doc(doc.text[start:end])
            ents = []
            for span in doc.spans:
                if start <= span.start and span.end <= end:
                    ent = sdoc.char_span(
                        span.start - start, span.end - start, label=span.label, alignment_mode=alignment
                    )
                    if ent is not None and not any(ent.start < e.end and e.start < ent.end for e in ents):
                        ents.append(ent)
                        if (ent.start_char, ent.end_char) == (span.start - start, span.end - start):
                            placed.add(span)
            sdoc.ents = ents
            sdoc.user_data.update({"doc_id": doc.id, "offset": start})
            for _ in range(repeats if any(ent.label_ in boost for ent in ents) else 1):
                out.add(sdoc)
        for span in doc.spans:
            context = f"{doc.id} [{span.start}:{span.end}] {doc.text[span.start:span.end]!r}"
            report.add(span.label, span in placed, context)
    return out


def spacy_config(tokens: str = "syllable", overrides: dict[str, object] | None = None,
                 path: Path = CONFIG_FILE) -> spacy.Config:
    """The training config (default: the versioned :data:`CONFIG_FILE`), tokenizer and ``overrides`` applied."""
    config = spacy.util.load_config(path, overrides=dict(overrides or {}), interpolate=False)
    config["nlp"]["tokenizer"] = TOKENIZERS[tokens]
    return config


def train_spacy(
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    schema: LabelSchema,
    out_dir: Path,
    *,
    tokens: str = "syllable",
    max_epochs: int | None = None,
    seed: int = 0,
    eval_frequency: int | None = None,
    rare_repeats: int = DEFAULT_RARE_REPEATS,
    keep: str = "last",
    overrides: dict[str, object] | None = None,
    config_file: Path = CONFIG_FILE,
) -> AlignmentReport:
    """Train and write the pipeline to ``out_dir/pipeline``, its effective config to ``out_dir/config.cfg``.

    The config is :data:`CONFIG_FILE`, then ``max_epochs``, ``seed`` and ``eval_frequency`` when
    given, then ``overrides`` (``{"components.ner.model.hidden_width": 128}``). ``keep`` is ``last``
    (the pipeline after the last epoch: dev scores stay honest) or ``best`` (the evaluation step
    with the best dev F1). Lines holding an entity of a rare label
    (:func:`training.sampling.rare_labels`) are seen ``rare_repeats`` times an epoch.
    """
    if tokens not in TOKENIZERS:
        raise ValueError(f"unknown tokens {tokens!r}; choose one of {', '.join(TOKENIZERS)}")
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {', '.join(KEEP)}, not {keep!r}")
    options = {"training.max_epochs": max_epochs, "system.seed": seed, "training.eval_frequency": eval_frequency}
    settings = {key: value for key, value in options.items() if value is not None} | dict(overrides or {})
    report = AlignmentReport()
    nlp = blank_pipeline(tokens)
    alignment = "strict" if tokens == "syllable" else "expand"
    with tempfile.TemporaryDirectory(prefix="vner-spacy-") as tmp:
        work = Path(tmp)
        boost = rare_labels(train_docs, schema.names) if rare_repeats > 1 else []
        config = spacy_config(tokens, settings, Path(config_file))
        to_docbin(train_docs, nlp, report, alignment, boost, rare_repeats).to_disk(work / "train.spacy")
        to_docbin(dev_docs, nlp, AlignmentReport(), alignment).to_disk(work / "dev.spacy")
        config.to_disk(out_dir / "config.cfg")
        try:
            spacy_train(
                out_dir / "config.cfg",
                output_path=work / "out",
                overrides={"paths.train": str(work / "train.spacy"), "paths.dev": str(work / "dev.spacy")},
            )
        except SystemExit as exc:  # spaCy's CLI code prints its error, then exits
            raise SpacyTrainingError(f"spaCy training stopped (exit {exc.code}); its message is printed above") from exc
        with staged_dir(out_dir / PIPELINE_DIR) as staging:
            shutil.copytree(work / "out" / f"model-{keep}", staging, dirs_exist_ok=True)
    return report
