"""Training the transformers engine's span head (:mod:`models.span_head`) beside its tagger.

Each training window carries its words' first sub-token positions and its candidate spans
(:func:`models.span_head.candidate_spans` over the window's words) with a target: the span label's
index + 1 for a gold span of a span label, 0 for a wrong span, -1 (left out of the loss) for a
span overlapping a gold span that the window cuts. A batch scores every candidate that overlaps a
gold span (the boundary variants the head must learn to reject) and a random sample of the others,
with binary cross-entropy per span label, added to the tagger's loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from corpus.document import Document
from models.hf_engine import Window
from models.span_head import DEFAULT_MAX_WORDS, SpanHead, candidate_spans

WIDTH_DIM = 32
HIDDEN_DIM = 256
SAMPLED_NEGATIVES = 256  # random wrong spans per window and step, besides those touching a gold span
IGNORE_SPAN = -1


def window_span_targets(
    doc: Document, words: Sequence[tuple[int, int]], window: Window, span_labels: Sequence[str],
    max_words: int = DEFAULT_MAX_WORDS,
) -> dict[str, list[int]]:
    """``word_pos`` (first sub-token position of each window word), ``spans`` (flat start, end pairs in
    window words) and ``span_targets`` for one window of ``doc``."""
    positions = [position for position, _ in window.first]
    indices = [word for _, word in window.first]
    texts = [doc.text[words[j][0]:words[j][1]] for j in indices]
    breaks = [k > 0 and "\n" in doc.text[words[indices[k - 1]][1]:words[j][0]] for k, j in enumerate(indices)]
    spans = candidate_spans(texts, breaks, max_words)
    by_start = {words[j][0]: k for k, j in enumerate(indices)}
    by_end = {words[j][1]: k + 1 for k, j in enumerate(indices)}
    gold: dict[tuple[int, int], int] = {}
    cut: list[tuple[int, int]] = []  # character extents of gold spans this window holds only in part
    window_start, window_end = (words[indices[0]][0], words[indices[-1]][1]) if indices else (0, 0)
    for span in doc.spans:
        if span.label not in span_labels or span.end <= window_start or window_end <= span.start:
            continue
        a, b = by_start.get(span.start), by_end.get(span.end)
        if a is not None and b is not None:
            gold[(a, b)] = span_labels.index(span.label) + 1
        else:
            cut.append((span.start, span.end))
    targets = []
    for a, b in spans.tolist():
        target = gold.get((a, b), 0)
        if target == 0 and cut:
            start, end = words[indices[a]][0], words[indices[b - 1]][1]
            if any(start < e and s < end for s, e in cut):
                target = IGNORE_SPAN
        targets.append(target)
    return {"word_pos": positions, "spans": spans.reshape(-1).tolist(), "span_targets": targets}


def sample_candidates(spans: np.ndarray, targets: np.ndarray, rng: np.random.Generator,
                      negatives: int = SAMPLED_NEGATIVES) -> np.ndarray:
    """Indices of the candidates to score this step: gold spans, wrong spans overlapping them, random others."""
    positive = targets > 0
    starts, ends = spans[:, 0], spans[:, 1]
    touching = np.zeros(len(spans), dtype=bool)
    for a, b in spans[positive]:
        touching |= (starts < b) & (a < ends)
    chosen = np.flatnonzero((positive | touching) & (targets != IGNORE_SPAN))
    others = np.flatnonzero(~positive & ~touching & (targets != IGNORE_SPAN))
    if len(others) > negatives:
        others = rng.choice(others, negatives, replace=False)
    return np.concatenate([chosen, others])


def build_scorer(hidden_size: int, n_labels: int, max_words: int = DEFAULT_MAX_WORDS) -> Any:
    """The PyTorch span scorer (same computation as :meth:`models.span_head.SpanHead.probabilities`)."""
    import torch
    from torch import nn

    class SpanScorer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.max_words = max_words
            self.width = nn.Embedding(max_words, WIDTH_DIM)
            self.hidden = nn.Linear(3 * hidden_size + WIDTH_DIM, HIDDEN_DIM)
            self.output = nn.Linear(HIDDEN_DIM, n_labels)

        def forward(self, hidden: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
            """Logits ``(len(spans), n_labels)`` for word-level ``hidden`` ``(n_words, d)``."""
            cumulative = torch.cat([hidden.new_zeros(1, hidden.shape[1]), hidden.cumsum(0)])
            starts, ends = spans[:, 0], spans[:, 1]
            mean = (cumulative[ends] - cumulative[starts]) / (ends - starts).unsqueeze(1).to(hidden.dtype)
            width = self.width((ends - starts).clamp(max=self.max_words) - 1).to(hidden.dtype)
            features = torch.cat([hidden[starts], hidden[ends - 1], mean, width], dim=1)
            return self.output(nn.functional.gelu(self.hidden(features), approximate="tanh"))

    return SpanScorer()


def span_loss(scorer: Any, hidden: Any, batch: dict[str, list], rng: np.random.Generator) -> Any:
    """Mean binary cross-entropy over the sampled candidates of every window in the batch."""
    import torch

    logits, targets = [], []
    for row, (positions, flat, window_targets) in enumerate(
        zip(batch["word_pos"], batch["spans"], batch["span_targets"], strict=True)
    ):
        if not flat:
            continue
        spans = np.asarray(flat, dtype=np.int64).reshape(-1, 2)
        labels = np.asarray(window_targets, dtype=np.int64)
        chosen = sample_candidates(spans, labels, rng)
        if not len(chosen):
            continue
        words = hidden[row, torch.as_tensor(positions)].float()
        logits.append(scorer(words, torch.as_tensor(spans[chosen])))
        targets.append(torch.as_tensor(labels[chosen]))
    if not logits:
        return hidden.new_zeros(())
    stacked, labels = torch.cat(logits), torch.cat(targets)
    one_hot = torch.zeros_like(stacked, dtype=torch.float32)
    positives = labels > 0
    one_hot[positives, labels[positives] - 1] = 1.0
    return torch.nn.functional.binary_cross_entropy_with_logits(stacked.float(), one_hot)


def to_span_head(scorer: Any, labels: Sequence[str]) -> SpanHead:
    """The trained scorer's weights as the numpy :class:`~models.span_head.SpanHead` that prediction uses."""
    def array(tensor: Any) -> np.ndarray:
        return tensor.detach().float().cpu().numpy().astype(np.float32)

    return SpanHead(
        labels=list(labels),
        width_embeddings=array(scorer.width.weight),
        hidden_weight=array(scorer.hidden.weight).T.copy(),
        hidden_bias=array(scorer.hidden.bias),
        output_weight=array(scorer.output.weight).T.copy(),
        output_bias=array(scorer.output.bias),
        max_words=scorer.max_words,
    )
