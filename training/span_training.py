"""Training the transformers engine's span head (:mod:`models.span_head`) beside its tagger.

Each training window carries its words' first sub-token positions, its anchors (number words) and,
per anchor, a target: the index + 1 of the span label of the gold span holding it (then also that
span, in window words), 0 when no gold span of a span label holds it, -1 (left out) when it sits in
one that the window cuts. The loss adds, to the tagger's: binary cross-entropy of every anchor per
span label, and for every anchor of a gold span the cross-entropy of choosing that span among all
spans around the anchor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from corpus.document import Document
from models.hf_engine import Window
from models.span_head import DEFAULT_MAX_WORDS, SpanHead, anchors, line_bounds, spans_around

WIDTH_DIM = 32
HIDDEN_DIM = 256
SPAN_LR_FACTOR = 5.0  # the freshly initialized head learns at this multiple of the encoder's rate
IGNORE_ANCHOR = -1


def window_span_targets(
    doc: Document, words: Sequence[tuple[int, int]], window: Window, span_labels: Sequence[str],
) -> dict[str, list[int]]:
    """The span head's training data of one window of ``doc``, in window words:

    ``word_pos`` (first sub-token position of each word), ``breaks`` (1 where a line break
    precedes the word), ``anchors``, ``anchor_targets`` and ``anchor_spans`` (the gold span's
    start and end for a positive anchor, else -1, -1; flat pairs).
    """
    positions = [position for position, _ in window.first]
    indices = [word for _, word in window.first]
    texts = [doc.text[words[j][0]:words[j][1]] for j in indices]
    breaks = [int(k > 0 and "\n" in doc.text[words[indices[k - 1]][1]:words[j][0]]) for k, j in enumerate(indices)]
    by_start = {words[j][0]: k for k, j in enumerate(indices)}
    by_end = {words[j][1]: k + 1 for k, j in enumerate(indices)}
    found = anchors(texts).tolist()
    targets, extents = [0] * len(found), [(-1, -1)] * len(found)
    for span in doc.spans:
        if span.label not in span_labels:
            continue
        a, b = by_start.get(span.start), by_end.get(span.end)
        for row, anchor in enumerate(found):
            start, end = words[indices[anchor]]
            if span.start <= start and end <= span.end:
                if a is not None and b is not None:
                    targets[row], extents[row] = span_labels.index(span.label) + 1, (a, b)
                else:
                    targets[row] = IGNORE_ANCHOR
    return {"word_pos": positions, "breaks": breaks, "anchors": found, "anchor_targets": targets,
            "anchor_spans": [x for pair in extents for x in pair]}


def build_scorer(hidden_size: int, n_labels: int, max_words: int = DEFAULT_MAX_WORDS) -> Any:
    """The PyTorch span head: the computation of :class:`models.span_head.SpanHead`, trainable."""
    import torch
    from torch import nn

    class SpanScorer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.max_words = max_words
            self.anchor_hidden = nn.Linear(hidden_size, HIDDEN_DIM)
            self.anchor_output = nn.Linear(HIDDEN_DIM, n_labels)
            self.width = nn.Embedding(max_words, WIDTH_DIM)
            self.span_hidden = nn.Linear(4 * hidden_size + WIDTH_DIM, HIDDEN_DIM)
            self.span_output = nn.Linear(HIDDEN_DIM, n_labels)

        def anchor_logits(self, hidden: torch.Tensor, anchor_words: torch.Tensor) -> torch.Tensor:
            inner = nn.functional.gelu(self.anchor_hidden(hidden[anchor_words]), approximate="tanh")
            return self.anchor_output(inner)

        def span_logits(self, hidden: torch.Tensor, spans: torch.Tensor, anchor: int) -> torch.Tensor:
            cumulative = torch.cat([hidden.new_zeros(1, hidden.shape[1]), hidden.cumsum(0)])
            starts, ends = spans[:, 0], spans[:, 1]
            mean = (cumulative[ends] - cumulative[starts]) / (ends - starts).unsqueeze(1).to(hidden.dtype)
            width = self.width((ends - starts).clamp(max=self.max_words) - 1).to(hidden.dtype)
            state = hidden[anchor].expand(len(spans), -1)
            features = torch.cat([hidden[starts], hidden[ends - 1], mean, width, state], dim=1)
            return self.span_output(nn.functional.gelu(self.span_hidden(features), approximate="tanh"))

    return SpanScorer()


def span_loss(scorer: Any, hidden: Any, batch: dict[str, list]) -> Any:
    """Anchor cross-entropy (all anchors, per label) plus span choice cross-entropy (anchors of gold spans)."""
    import torch

    anchor_losses, choice_losses = [], []
    for row, (positions, breaks, found, targets, extents) in enumerate(zip(
        batch["word_pos"], batch["breaks"], batch["anchors"], batch["anchor_targets"], batch["anchor_spans"],
        strict=True,
    )):
        keep = [i for i, target in enumerate(targets) if target != IGNORE_ANCHOR]
        if not keep:
            continue
        words = hidden[row, torch.as_tensor(positions)].float()
        logits = scorer.anchor_logits(words, torch.as_tensor([found[i] for i in keep]))
        wanted = torch.zeros_like(logits)
        first, after = line_bounds([bool(b) for b in breaks])
        for k, i in enumerate(keep):
            if targets[i] <= 0:
                continue
            label = targets[i] - 1
            wanted[k, label] = 1.0
            spans = spans_around(found[i], int(first[found[i]]), int(after[found[i]]), scorer.max_words)
            gold = np.flatnonzero((spans[:, 0] == extents[2 * i]) & (spans[:, 1] == extents[2 * i + 1]))
            if len(gold):  # a gold span longer than max_words cannot be chosen: its anchor still counts
                scores = scorer.span_logits(words, torch.as_tensor(spans), found[i])[:, label]
                choice_losses.append(torch.nn.functional.cross_entropy(scores[None], torch.as_tensor(gold[:1])))
        anchor_losses.append(torch.nn.functional.binary_cross_entropy_with_logits(logits, wanted, reduction="sum"))
    if not anchor_losses:
        return hidden.new_zeros(())
    n_anchors = sum(len(t) for t in batch["anchor_targets"]) or 1
    loss = torch.stack(anchor_losses).sum() / n_anchors
    return loss + torch.stack(choice_losses).mean() if choice_losses else loss


def to_span_head(scorer: Any, labels: Sequence[str]) -> SpanHead:
    """The trained head's weights as the numpy :class:`~models.span_head.SpanHead` that prediction uses."""
    def array(tensor: Any) -> np.ndarray:
        return tensor.detach().float().cpu().numpy().astype(np.float32)

    return SpanHead(
        labels=list(labels),
        anchor_hidden_weight=array(scorer.anchor_hidden.weight).T.copy(),
        anchor_hidden_bias=array(scorer.anchor_hidden.bias),
        anchor_output_weight=array(scorer.anchor_output.weight).T.copy(),
        anchor_output_bias=array(scorer.anchor_output.bias),
        width_embeddings=array(scorer.width.weight),
        span_hidden_weight=array(scorer.span_hidden.weight).T.copy(),
        span_hidden_bias=array(scorer.span_hidden.bias),
        span_output_weight=array(scorer.span_output.weight).T.copy(),
        span_output_bias=array(scorer.span_output.bias),
        max_words=scorer.max_words,
    )
