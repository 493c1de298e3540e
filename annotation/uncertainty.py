"""How sure a model is of each decision it takes on a text: the margin between its two best choices.

A margin is ``p(best) - p(second best)`` of one decision, in [0, 1]; close calls have margins near 0.

* spaCy (``models.spacy_engine``): its NER is a greedy transition system (Begin/In/Last/Unit/Out per
  token). :func:`spacy_decisions` replays that greedy parse step by step with the pipeline's own
  model, takes the softmax of the scores of the actions that are valid in each state, and keeps the
  margin of every step. The entities it ends with are the pipeline's own (``tests/test_active_learning``
  checks this). Beam search (``EntityRecognizer.beam_parse`` + ``scored_ents``) was tried first: with
  a greedily trained model its parse probabilities came out nearly uniform (0.125 each for 8 beams on
  a model trained on 20 articles), so they say little.
* transformers / ONNX (``models.hf_engine``): the margin of each word's tag probabilities (the
  window where the word is most central, as in prediction).

Documents are scored by a :data:`MEASURES` function of their margins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from corpus.document import Span
from corpus.text import normalize, paragraph_bounds, split_words
from models.base import NerModel

BATCH_LINES = 32


class UncertaintyError(ValueError):
    """The model gives no probabilities to measure uncertainty with (e.g. the rules engine)."""


def _margins(probs: np.ndarray) -> np.ndarray:
    """Best minus second-best value of each row (rows of probabilities)."""
    if probs.shape[1] < 2:
        return np.ones(len(probs), dtype=np.float32)
    top = np.sort(probs, axis=1)[:, -2:]
    return (top[:, 1] - top[:, 0]).astype(np.float32)


# ----------------------------------------------------------------------------- spaCy


class _Actions:
    """The NER transition names of a spaCy pipeline and which of them are valid in which state.

    Without preset entities (our case) the BILUO rules are: no entity open -> ``B-X`` (not on the
    last token), ``U-X`` or ``O``, and only ``O`` on a whitespace token (no entity starts on one);
    entity ``X`` open -> ``I-X`` (not on the last token) or ``L-X``. (``TransitionSystem.is_valid``
    says the same, one action at a time: 2.5 times slower.)
    """

    def __init__(self, moves: Any) -> None:
        self.names = [moves.get_class_name(i) for i in range(moves.n_moves)]
        kinds = [name.partition("-")[0] for name in self.names]
        labels = [name.partition("-")[2] for name in self.names]
        self.label = labels
        self.opens = [kind in ("B", "I") for kind in kinds]
        pairs = list(zip(kinds, labels, strict=True))
        self.closed = np.array([(k in ("B", "U") and bool(lab)) or k == "O" for k, lab in pairs])
        self.closed_last = np.array([(k == "U" and bool(lab)) or k == "O" for k, lab in pairs])
        self.out_only = np.array([k == "O" for k in kinds])
        self.inside = {lab: np.array([k in ("I", "L") and l2 == lab for k, l2 in pairs])
                       for lab in set(labels) if lab}
        self.inside_last = {lab: np.array([k == "L" and l2 == lab for k, l2 in pairs])
                            for lab in set(labels) if lab}

    def valid(self, open_label: str | None, buffer_length: int, space: bool) -> np.ndarray:
        last = buffer_length < 2
        if open_label is None:
            if space:
                return self.out_only
            return self.closed_last if last else self.closed
        return self.inside_last[open_label] if last else self.inside[open_label]


def _greedy_parse(ner: Any, actions: _Actions, docs: list[Any]) -> list[list[float]]:
    """Parse ``docs`` greedily as ``ner`` does, setting their entities; the margin of every step."""
    step_model = ner.model.predict(docs)
    states = ner.moves.init_batch(docs)
    spaces = [[token.is_space for token in doc] for doc in docs]
    margins: list[list[float]] = [[] for _ in docs]
    open_label: list[str | None] = [None] * len(docs)
    active = [i for i, state in enumerate(states) if not state.is_final()]
    while active:
        scores = step_model.predict([states[i] for i in active])
        still = []
        for row, i in enumerate(active):
            state = states[i]
            space = spaces[i][len(margins[i])]  # every action reads one token: step k is at token k
            logits = np.where(actions.valid(open_label[i], state.buffer_length(), space), scores[row], -np.inf)
            best = int(np.argmax(logits))
            probs = np.exp(logits - logits[best])
            probs /= probs.sum()
            second = np.partition(probs, -2)[-2] if len(probs) > 1 else 0.0
            margins[i].append(float(probs[best] - second))
            ner.moves.apply_transition(state, actions.names[best])
            open_label[i] = actions.label[best] if actions.opens[best] else None
            if not state.is_final():
                still.append(i)
        active = still
    ner.set_annotations(docs, states)
    return margins


def spacy_decisions(model: NerModel, texts: Sequence[str]) -> tuple[list[np.ndarray], list[list[Span]]]:
    """For NFC texts with plain whitespace: the margin of every NER step, and the entities found.

    Lines are parsed one by one, as ``SpacyModel.predict_normalized`` does; spans are offsets into each text.
    """
    nlp = model.nlp  # type: ignore[attr-defined]
    ner = nlp.get_pipe("ner")
    actions = _Actions(ner.moves)
    before = [proc for name, proc in nlp.pipeline[: nlp.pipe_names.index("ner")]]
    lines = [(i, start, text[start:end]) for i, text in enumerate(texts) for start, end in paragraph_bounds(text)]
    margins: list[list[float]] = [[] for _ in texts]
    spans: list[list[Span]] = [[] for _ in texts]
    for at in range(0, len(lines), BATCH_LINES):
        batch = lines[at:at + BATCH_LINES]
        docs = [nlp.make_doc(line) for _, _, line in batch]
        for proc in before:
            docs = list(proc.pipe(docs))
        for (i, offset, _), doc, steps in zip(batch, docs, _greedy_parse(ner, actions, docs), strict=True):
            margins[i] += steps
            spans[i] += [Span(e.start_char + offset, e.end_char + offset, e.label_) for e in doc.ents
                         if e.label_ in model.schema]
    return [np.asarray(m, dtype=np.float32) for m in margins], spans


# ----------------------------------------------------------------------------- transformers


def word_margins(model: NerModel, texts: Sequence[str]) -> list[np.ndarray]:
    """For NFC texts with plain whitespace: the margin of every word's tag (transformers and ONNX models)."""
    from models.hf_engine import merge_windows

    bounds = [split_words(text) for text in texts]
    per_doc = model.encoder.encode_batch(  # type: ignore[attr-defined]
        [[text[a:b] for a, b in words] for text, words in zip(texts, bounds, strict=True)])
    probs = iter(model.window_probabilities([w for windows in per_doc for w in windows]))  # type: ignore[attr-defined]
    out = []
    for words, windows in zip(bounds, per_doc, strict=True):
        if not windows:
            out.append(np.zeros(0, dtype=np.float32))
            continue
        merged = merge_windows(len(words), windows, [next(probs) for _ in windows])
        merged = merged[~np.isnan(merged).any(axis=1)]
        out.append(_margins(merged))
    return out


# ----------------------------------------------------------------------------- documents


def decision_margins(model: NerModel, texts: Sequence[str]) -> list[np.ndarray]:
    """The margins of the decisions ``model`` takes on each text (any text: normalized here first)."""
    normalized = [normalize(text)[0] for text in texts]
    if model.engine == "spacy":
        return spacy_decisions(model, normalized)[0]
    if hasattr(model, "window_probabilities"):
        return word_margins(model, normalized)
    raise UncertaintyError(f"the {model.engine} engine gives no probabilities: use a spaCy or transformers "
                           "model for uncertainty (or --strategy random)")


def margin_sum(margins: np.ndarray) -> float:
    """Sum of ``1 - margin``: about how many close calls the document holds (long documents score higher)."""
    return float(np.sum(1.0 - margins))


def margin_mean(margins: np.ndarray) -> float:
    """Mean of ``1 - margin``: how close the calls are per token, whatever the length."""
    return float(np.mean(1.0 - margins)) if len(margins) else 0.0


MEASURES: dict[str, Callable[[np.ndarray], float]] = {"margin": margin_sum, "margin-mean": margin_mean}
DEFAULT_MEASURE = "margin"


def uncertainty(model: NerModel, texts: Sequence[str], measure: str = DEFAULT_MEASURE) -> list[float]:
    """One uncertainty per text, by ``measure`` (a key of :data:`MEASURES`); higher is less sure."""
    if measure not in MEASURES:
        raise ValueError(f"unknown uncertainty measure {measure!r}; choose one of {', '.join(MEASURES)}")
    return [MEASURES[measure](margins) for margins in decision_margins(model, texts)]
