"""The transformers engine's span head: anchors, spans around them, training targets, same scores in torch and numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.document import Document, Span
from corpus.text import split_words
from models.hf_engine import Window
from models.span_head import SpanHead, anchors, is_number_word, line_bounds, merge_spans, spans_around
from training.span_training import IGNORE_ANCHOR, build_scorer, span_loss, to_span_head, window_span_targets


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 40), data=st.data(), max_words=st.integers(1, 12))
def test_spans_around_an_anchor_are_exactly_those_on_its_line(n, data, max_words) -> None:
    breaks = [False] + data.draw(st.lists(st.booleans(), min_size=n - 1, max_size=n - 1))
    anchor = data.draw(st.integers(0, n - 1))
    first, after = line_bounds(breaks)
    found = {tuple(pair) for pair in spans_around(anchor, int(first[anchor]), int(after[anchor]), max_words).tolist()}
    expected = {
        (a, b)
        for a in range(n)
        for b in range(a + 1, n + 1)
        if a <= anchor < b and b - a <= max_words and not any(breaks[a + 1:b])
    }
    assert found == expected


def test_anchors_are_the_number_words() -> None:
    words = ["tăng", "12%", "hai", "xã", "năm", "1.351", "Một"]
    assert anchors(words).tolist() == [1, 2, 4, 5, 6]
    assert not is_number_word("quận") and is_number_word("19h")


def _randomized_scorer() -> torch.nn.Module:
    torch.manual_seed(0)
    scorer = build_scorer(hidden_size=8, n_labels=2, max_words=5)
    for parameter in scorer.parameters():  # away from the initialization, so a wrong transpose shows
        parameter.data.normal_(0, 0.5)
    return scorer


def test_torch_scorer_and_numpy_span_head_compute_the_same() -> None:
    scorer = _randomized_scorer()
    hidden = torch.randn(9, 8)
    spans = torch.tensor([[0, 1], [2, 7], [3, 8], [4, 5]])  # width 5 and 5+: the largest embedding
    head = to_span_head(scorer, ["TARGET", "OTHER"])
    with torch.no_grad():
        anchor_probs = torch.sigmoid(scorer.anchor_logits(hidden, torch.tensor([1, 4]))).numpy()
        span_logits = scorer.span_logits(hidden, spans, 4).numpy()
    assert head.anchor_probabilities(hidden.numpy(), np.array([1, 4])) == pytest.approx(anchor_probs, abs=1e-5)
    assert head.span_scores(hidden.numpy(), spans.numpy(), 4) == pytest.approx(span_logits, abs=1e-4)


def _head(anchor_bias: float) -> SpanHead:
    """A head whose anchor probability is its word's first hidden value (+ bias), whose span score is the
    second hidden value of the span's first word: it picks the span starting on the highest one."""
    d, h = 2, 1
    anchor_hidden = np.zeros((d, h), np.float32)
    anchor_hidden[0, 0] = 10.0
    span_hidden = np.zeros((4 * d + 1, h), np.float32)
    span_hidden[1, 0] = 10.0
    one = np.ones((h, 1), np.float32)
    return SpanHead(["TARGET"], anchor_hidden, np.zeros(h, np.float32), one, np.array([anchor_bias], np.float32),
                    np.zeros((6, 1), np.float32), span_hidden, np.zeros(h, np.float32), one,
                    np.zeros(1, np.float32), max_words=6)


def test_decode_takes_each_confident_anchors_best_span_without_overlap() -> None:
    words = ["giảm", "12%", "và", "tăng", "5%", "hộ", "3"]
    hidden = np.array([[0, 0], [2, 0], [0, 3], [0, 5], [1, 0], [0, 1], [3, 0]], dtype=np.float32)
    picks = _head(anchor_bias=-0.5).decode(hidden, words, [False] * 7)
    # anchors by probability: "3" (word 6), "12%" (1), "5%" (4); "3" takes the best span around it that
    # starts on the highest second value: word 3 ("tăng") -> (3, 7); "12%" then (0, 2) or (1, 2): starting
    # on word 0 or 1 (both 0) the first is kept; "5%" lies inside (3, 7)
    assert [(a, b) for a, b, _, _ in picks] == [(0, 2), (3, 7)]
    assert all(label == "TARGET" and 0.5 <= p <= 1 for _, _, label, p in picks)
    assert _head(anchor_bias=-100.0).decode(hidden, words, [False] * 7) == []
    broken = [False] * 5 + [True, False]  # a line break before word 5 ("hộ"): no span crosses it
    assert [(a, b) for a, b, _, _ in _head(-0.5).decode(hidden, words, broken)] == [(0, 2), (3, 5), (5, 7)]


def test_the_span_heads_spans_replace_the_tags_they_overlap() -> None:
    tagged = [Span(0, 4, "DATE"), Span(10, 14, "FIGURE"), Span(20, 25, "UNIT")]
    merged = merge_spans(tagged, [Span(8, 16, "TARGET", 0.9)])
    assert merged == [Span(0, 4, "DATE"), Span(8, 16, "TARGET"), Span(20, 25, "UNIT")]


def _window(words: list[tuple[int, int]], first: int, last: int) -> Window:
    """A window showing words ``first..last-1``, one sub-token each."""
    positions = [(1 + k, j) for k, j in enumerate(range(first, last))]
    return Window(input_ids=[0] * (last - first + 2), word_ids=[None] * (last - first + 2), first=positions,
                  content=(1, last - first + 1), at_start=first == 0, at_end=last == len(words))


TEXT = "Phấn đấu tỷ lệ hộ nghèo giảm 2% / năm, có 3 xã\nvà 100% xã đạt chuẩn"


def _doc() -> Document:
    target = Span(TEXT.index("tỷ"), TEXT.index("/ năm") + 5, "TARGET")
    second = Span(TEXT.index("100%"), len(TEXT), "TARGET")
    return Document("d", TEXT, spans=[target, Span(TEXT.index("3 xã"), TEXT.index("3 xã") + 4, "FIGURE"), second])


def test_training_targets_mark_anchors_of_gold_spans_and_leave_out_cut_ones() -> None:
    words = split_words(TEXT)
    window = _window(words, 0, len(words) - 2)  # cuts the second target
    row = window_span_targets(_doc(), words, window, ["TARGET"])
    texts = [TEXT[words[j][0]:words[j][1]] for _, j in window.first]
    assert [texts[a] for a in row["anchors"]] == ["tỷ", "2", "năm", "3", "100"]  # "tỷ" (billion) of "tỷ lệ" too
    assert row["anchor_targets"] == [1, 1, 1, 0, IGNORE_ANCHOR]
    start, end = row["anchor_spans"][:2]
    assert " ".join(texts[start:end]) == "tỷ lệ hộ nghèo giảm 2 % / năm"
    assert row["anchor_spans"][:6] == [start, end] * 3 and row["anchor_spans"][6:] == [-1, -1, -1, -1]
    assert row["breaks"][texts.index("và")] == 1 and sum(row["breaks"]) == 1
    assert row["word_pos"] == [position for position, _ in window.first]


def test_the_loss_falls_when_the_head_learns_the_gold_span() -> None:
    words = split_words(TEXT)
    row = window_span_targets(_doc(), words, _window(words, 0, len(words)), ["TARGET"])
    batch = {key: [value] for key, value in row.items()}
    torch.manual_seed(0)
    hidden = torch.randn(1, len(words) + 2, 8)
    scorer = build_scorer(hidden_size=8, n_labels=1, max_words=12)
    optimizer = torch.optim.Adam(scorer.parameters(), lr=1e-2)
    first = span_loss(scorer, hidden, batch).item()
    for _ in range(150):
        optimizer.zero_grad()
        span_loss(scorer, hidden, batch).backward()
        optimizer.step()
    assert span_loss(scorer, hidden, batch).item() < 0.05 * first
    picks = to_span_head(scorer, ["TARGET"]).decode(hidden[0, 1:-1].numpy(), [TEXT[a:b] for a, b in words],
                                                     [bool(b) for b in row["breaks"]])
    found = {(words[a][0], words[b - 1][1]) for a, b, _, _ in picks}
    assert {(s.start, s.end) for s in _doc().spans if s.label == "TARGET"} == found
