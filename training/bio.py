"""Gold character spans <-> BIO word tags <-> token labels of overlapping windows.

Words are those of the transformers engine (:func:`models.hf_engine.split_words`). A span becomes
``B-X`` on its first word and ``I-X`` on the rest; a span whose start or end falls inside a word
(or between words the tokenizer did not keep) goes to the :class:`AlignmentReport` and is not
tagged. In a window, a word's tag id sits on its first sub-token; every other token is ``-100``.
Decoding (tags -> spans) is :func:`models.hf_engine.decode_tags`, shared with prediction, so
``decode_tags(text, words, word_tags(text, words, spans)) == spans`` for aligned, flat spans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from corpus.document import Document, Span
from models.hf_engine import Window, WindowEncoder, decode_tags, split_words
from training.alignment import AlignmentReport

IGNORE = -100  # the label cross-entropy skips

__all__ = ["IGNORE", "decode_tags", "document_features", "window_labels", "word_tags"]


def word_tags(
    text: str,
    words: Sequence[tuple[int, int]],
    spans: Sequence[Span],
    report: AlignmentReport | None = None,
    *,
    doc_id: str = "",
    labels: Sequence[str] | None = None,
    kept: Sequence[bool] | None = None,
) -> list[str]:
    """One BIO tag per word for ``spans``.

    A span is skipped, and counted as misaligned in ``report``, when its start is not a word
    start or its end not a word end, when its label is not in ``labels`` (if given), when it
    overlaps a span already placed, or when its first or last word is not ``kept`` (has no
    sub-token).
    """
    by_start = {start: i for i, (start, _) in enumerate(words)}
    by_end = {end: i for i, (_, end) in enumerate(words)}
    tags = ["O"] * len(words)
    for span in sorted(spans):
        first, last = by_start.get(span.start), by_end.get(span.end)
        ok = (
            first is not None and last is not None and first <= last
            and (labels is None or span.label in labels)
            and all(tag == "O" for tag in tags[first:last + 1])
            and (kept is None or (kept[first] and kept[last]))
        )
        if ok:
            tags[first] = f"B-{span.label}"
            tags[first + 1:last + 1] = [f"I-{span.label}"] * (last - first)
        if report is not None:
            report.add(span.label, ok, f"{doc_id} [{span.start}:{span.end}] {text[span.start:span.end]!r}")
    return tags


def window_labels(window: Window, tag_ids: Sequence[int]) -> list[int]:
    """Token labels of ``window``: the word's tag id on each first sub-token, ``IGNORE`` elsewhere."""
    labels = [IGNORE] * len(window.input_ids)
    for position, word in window.first:
        labels[position] = tag_ids[word]
    return labels


def document_features(
    doc: Document,
    encoder: WindowEncoder,
    label2id: Mapping[str, int],
    report: AlignmentReport | None = None,
    span_labels: Sequence[str] = (),
) -> list[dict[str, list[int]]]:
    """Training examples of one gold document: ``input_ids``, ``attention_mask``, ``labels`` per window.

    Spans of ``span_labels`` are not tagged: each window gets the span head's candidates and
    targets instead (:func:`training.span_training.window_span_targets`).
    """
    words = split_words(doc.text)
    windows = encoder.encode([doc.text[a:b] for a, b in words])
    kept = [False] * len(words)
    for window in windows:
        for _, word in window.first:
            kept[word] = True
    labels = [tag.partition("-")[2] for tag in label2id if tag != "O"]
    tagged = [span for span in doc.spans if span.label not in span_labels]
    tags = word_tags(doc.text, words, tagged, report, doc_id=doc.id, labels=labels, kept=kept)
    if report is not None:
        starts, ends = {a for a, _ in words}, {b for _, b in words}
        for span in doc.spans:
            if span.label in span_labels:
                context = f"{doc.id} [{span.start}:{span.end}] {doc.text[span.start:span.end]!r}"
                report.add(span.label, span.start in starts and span.end in ends, context)
    tag_ids = [label2id[tag] for tag in tags]
    rows = []
    for window in windows:
        row = {
            "input_ids": list(window.input_ids),
            "attention_mask": [1] * len(window.input_ids),
            "labels": window_labels(window, tag_ids),
        }
        if span_labels:
            from training.span_training import window_span_targets

            row |= window_span_targets(doc, words, window, span_labels)
        rows.append(row)
    return rows
