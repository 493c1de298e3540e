"""The transformers engine's span head: candidates, training targets, and the same scores in torch and numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.document import Document, Span
from corpus.text import split_words
from models.hf_engine import Window
from models.span_head import SpanHead, candidate_spans, is_number_word, merge_spans
from training.span_training import (
    IGNORE_SPAN,
    build_scorer,
    sample_candidates,
    to_span_head,
    window_span_targets,
)

WORDS = st.lists(st.sampled_from(["tăng", "12%", "hai", "xã", "năm", "2025", "đạt", "hộ", "1.351"]), max_size=40)


@settings(max_examples=200, deadline=None)
@given(words=WORDS, data=st.data(), max_words=st.integers(1, 12))
def test_candidates_are_exactly_the_short_runs_with_a_number_inside_one_line(words, data, max_words) -> None:
    breaks = data.draw(st.lists(st.booleans(), min_size=len(words), max_size=len(words)))
    found = {tuple(pair) for pair in candidate_spans(words, breaks, max_words).tolist()}
    expected = {
        (a, b)
        for a in range(len(words))
        for b in range(a + 1, min(len(words), a + max_words) + 1)
        if any(is_number_word(w) for w in words[a:b]) and not any(breaks[a + 1:b])
    }
    assert found == expected


def test_torch_scorer_and_numpy_span_head_give_the_same_probabilities() -> None:
    torch.manual_seed(0)
    scorer = build_scorer(hidden_size=8, n_labels=2, max_words=5)
    for parameter in scorer.parameters():  # away from the initialization, so a wrong transpose shows
        parameter.data.normal_(0, 0.5)
    hidden = torch.randn(9, 8)
    spans = torch.tensor([[0, 1], [2, 7], [3, 9], [8, 9]])  # the width 6 is cut to the largest embedding
    with torch.no_grad():
        expected = torch.sigmoid(scorer(hidden, spans)).numpy()
    head = to_span_head(scorer, ["TARGET", "OTHER"])
    assert head.probabilities(hidden.numpy(), spans.numpy()) == pytest.approx(expected, abs=1e-5)


def _head(bias: float) -> SpanHead:
    """A head that scores a span by its first word's first hidden value (plus ``bias``)."""
    d = 2
    hidden_weight = np.zeros((3 * d + 1, 1), dtype=np.float32)
    hidden_weight[0, 0] = 10.0
    return SpanHead(["TARGET"], np.zeros((4, 1), np.float32), hidden_weight, np.zeros(1, np.float32),
                    np.ones((1, 1), np.float32), np.array([bias], np.float32), max_words=4)


def test_decode_keeps_the_best_non_overlapping_spans_above_the_threshold() -> None:
    words = ["giảm", "12%", "và", "tăng", "5%"]
    hidden = np.array([[3.0, 0], [1.0, 0], [0, 0], [2.0, 0], [-5.0, 0]], dtype=np.float32)
    picks = _head(bias=-1.0).decode(hidden, words, [False] * 5)
    assert [(a, b) for a, b, _, _ in picks] == [(0, 2), (3, 5)]  # (0, 2) over (0, 5) and (1, 2): ties keep order
    assert all(label == "TARGET" and 0.5 <= p <= 1 for _, _, label, p in picks)
    assert _head(bias=-100.0).decode(hidden, words, [False] * 5) == []


def test_the_span_heads_spans_replace_the_tags_they_overlap() -> None:
    tagged = [Span(0, 4, "DATE"), Span(10, 14, "FIGURE"), Span(20, 25, "UNIT")]
    merged = merge_spans(tagged, [Span(8, 16, "TARGET", 0.9)])
    assert merged == [Span(0, 4, "DATE"), Span(8, 16, "TARGET"), Span(20, 25, "UNIT")]


def _window(words: list[tuple[int, int]], first: int, last: int) -> Window:
    """A window showing words ``first..last-1``, one sub-token each."""
    positions = [(1 + k, j) for k, j in enumerate(range(first, last))]
    return Window(input_ids=[0] * (last - first + 2), word_ids=[None] * (last - first + 2), first=positions,
                  content=(1, last - first + 1), at_start=first == 0, at_end=last == len(words))


def test_training_targets_mark_the_gold_span_and_leave_out_cut_ones() -> None:
    text = "Phấn đấu tỷ lệ hộ nghèo giảm 2% / năm và 100% xã đạt chuẩn"
    target = Span(text.index("tỷ"), text.index("/ năm") + 5, "TARGET")
    second = Span(text.index("100%"), len(text), "TARGET")
    doc = Document("d", text, spans=[target, second])
    words = split_words(text)
    window = _window(words, 0, len(words) - 2)  # cuts the second target
    row = window_span_targets(doc, words, window, ["TARGET"])
    spans = np.asarray(row["spans"]).reshape(-1, 2)
    targets = np.asarray(row["span_targets"])
    positive = spans[targets == 1].tolist()
    assert positive == [[2, 11]]  # "tỷ lệ hộ nghèo giảm 2 % / năm" in window words
    assert (targets == 1).sum() == 1
    cut_start = next(k for k, (_, j) in enumerate(window.first) if words[j][0] == second.start)
    assert all(t == IGNORE_SPAN for (a, b), t in zip(spans.tolist(), targets, strict=True) if b > cut_start)
    assert row["word_pos"] == [position for position, _ in window.first]


def test_sampling_keeps_every_gold_span_and_its_overlapping_rivals() -> None:
    spans = np.array([[a, b] for a in range(30) for b in range(a + 1, min(a + 5, 30) + 1)])
    targets = np.zeros(len(spans), dtype=np.int64)
    gold = spans.tolist().index([10, 13])
    targets[gold] = 1
    targets[0] = IGNORE_SPAN
    chosen = sample_candidates(spans, targets, np.random.default_rng(0), negatives=7)
    overlapping = {i for i, (a, b) in enumerate(spans.tolist()) if a < 13 and 10 < b}
    assert overlapping <= set(chosen.tolist()) and 0 not in chosen
    assert len(chosen) == len(overlapping) + 7
