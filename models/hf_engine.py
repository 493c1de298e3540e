"""The transformers engine: a token-classification encoder over syllable words, in overlapping windows.

Text -> words (syllables, numbers, single symbols; the same idea as the spaCy engine's tokenizer)
-> sub-tokens of the whole document -> windows of at most ``max_length`` tokens (special tokens
included) that overlap by at most ``stride`` tokens and always cut between words. Each word's tag
is read at its first sub-token. When windows overlap, a word takes its prediction from the window
where it has the most context on both sides (a side that is the document edge counts as
unlimited); ties go to the earlier window. Tags are BIO over the schema's labels: the most
probable valid tag sequence is chosen (:func:`best_tag_path`) and turned back into character
spans (:func:`decode_tags`).

Training lives in ``training/hf_train.py``; this module only needs ``corpus``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.document import Span
from corpus.schema import LabelSchema
from corpus.text import split_words
from models.base import NerModel
from models.card import ModelDirError, ModelMeta
from models.span_head import SpanHead, load_span_head, merge_spans

ENGINE = "transformers"
HF_DIR = "hf"  # weights, config and tokenizer inside a model directory
DEFAULT_MAX_LENGTH = 256
DEFAULT_STRIDE = 32
DEFAULT_BATCH_SIZE = 8  # windows per forward pass: 2,080 words/s on 2 CPU cores with e5-small vs 1,840 at 32
THREADS_ENV = "VNER_THREADS"

# ---------------------------------------------------------------------------------------------
# Windows


@dataclass(frozen=True)
class Window:
    """One model input: ``input_ids`` with their document word index (None for special tokens)."""

    input_ids: list[int]
    word_ids: list[int | None]
    first: list[tuple[int, int]]  # (position in input_ids, word index) of each word's first sub-token
    content: tuple[int, int]  # positions [start, end) of the non-special tokens
    at_start: bool  # the window begins with the document's first word
    at_end: bool  # the window ends with the document's last word

    def context(self, position: int) -> float:
        """Tokens of context around ``position`` on its poorer side; a document edge counts as unlimited."""
        before = math.inf if self.at_start else position - self.content[0]
        after = math.inf if self.at_end else self.content[1] - 1 - position
        return min(before, after)


def plan_windows(counts: Sequence[int], body: int, stride: int) -> list[tuple[int, int]]:
    """Word ranges ``[start, end)`` with at most ``body`` sub-tokens each, overlapping by at most ``stride``.

    ``counts`` is the number of sub-tokens of each word. A range holds at least one word (a word
    longer than ``body`` gets a window of its own, cut later), and each range starts after the
    previous one, so every word is in some window.
    """
    windows: list[tuple[int, int]] = []
    start, n = 0, len(counts)
    while start < n:
        end, total = start, 0
        while end < n and (end == start or total + counts[end] <= body):
            total += counts[end]
            end += 1
        windows.append((start, end))
        if end >= n:
            break
        nxt, overlap = end, 0
        while nxt - 1 > start and overlap + counts[nxt - 1] <= stride:
            nxt -= 1
            overlap += counts[nxt]
        start = nxt
    return windows


class WindowEncoder:
    """Turns word lists into :class:`Window` lists with a fast tokenizer's own special tokens."""

    def __init__(self, tokenizer: Any, max_length: int = DEFAULT_MAX_LENGTH, stride: int = DEFAULT_STRIDE):
        from tokenizers import Tokenizer

        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not isinstance(backend, Tokenizer):
            raise TypeError(f"a fast (tokenizers-backed) tokenizer is needed, not {type(tokenizer).__name__}")
        self.backend = Tokenizer.from_str(backend.to_str())  # a private copy: no truncation, no padding
        self.backend.no_truncation()
        self.backend.no_padding()
        probe = self.backend.encode(["a"], is_pretokenized=True, add_special_tokens=True)
        inside = [i for i, w in enumerate(probe.word_ids) if w is not None]
        self.prefix = probe.ids[: inside[0]]
        self.suffix = probe.ids[inside[-1] + 1 :]
        self.max_length, self.stride = max_length, stride
        self.body = max_length - len(self.prefix) - len(self.suffix)
        if self.body < 2:
            raise ValueError(f"max_length {max_length} leaves no room for words after the special tokens")
        if not 0 <= stride < self.body:
            raise ValueError(f"stride must be at least 0 and below {self.body} (max_length minus special tokens)")

    def encode(self, words: Sequence[str]) -> list[Window]:
        return self.encode_batch([words])[0]

    def encode_batch(self, docs: Sequence[Sequence[str]]) -> list[list[Window]]:
        todo = [i for i, words in enumerate(docs) if words]
        out: list[list[Window]] = [[] for _ in docs]
        encodings = self.backend.encode_batch([list(docs[i]) for i in todo], is_pretokenized=True,
                                              add_special_tokens=False)
        for i, encoding in zip(todo, encodings, strict=True):
            out[i] = self._windows(len(docs[i]), encoding.ids, encoding.word_ids)
        return out

    def _windows(self, n_words: int, ids: list[int], word_ids: list[int | None]) -> list[Window]:
        # Sub-tokens of word j are ids[starts[j]:ends[j]] (empty when the tokenizer dropped the word).
        starts, ends = [0] * n_words, [0] * n_words
        seen = [False] * n_words
        for pos, word in enumerate(word_ids):
            if word is None:
                continue
            if not seen[word]:
                seen[word], starts[word] = True, pos
            ends[word] = pos + 1
        position = len(ids)
        for word in range(n_words - 1, -1, -1):  # empty words sit where the next word starts
            if seen[word]:
                position = starts[word]
            else:
                starts[word] = ends[word] = position
        counts = [ends[j] - starts[j] for j in range(n_words)]
        windows = []
        for first_word, end_word in plan_windows(counts, self.body, self.stride):
            lo, hi = starts[first_word], ends[end_word - 1]
            hi = min(hi, lo + self.body)  # only a single over-long word is ever cut
            body_words = word_ids[lo:hi]
            offset = len(self.prefix)
            first = [
                (offset + k, word) for k, word in enumerate(body_words)
                if word is not None and (k == 0 or body_words[k - 1] != word)
            ]
            windows.append(Window(
                input_ids=[*self.prefix, *ids[lo:hi], *self.suffix],
                word_ids=[None] * len(self.prefix) + list(body_words) + [None] * len(self.suffix),
                first=first,
                content=(offset, offset + hi - lo),
                at_start=first_word == 0,
                at_end=end_word == n_words,
            ))
        return windows


def merge_windows(n_words: int, windows: Sequence[Window], probs: Sequence[np.ndarray]) -> np.ndarray:
    """Per-word tag probabilities ``(n_words, n_tags)``: each word from the window where it is most central.

    ``probs[i]`` holds one row per token of ``windows[i]``. Rows of words that no window shows
    (the tokenizer produced nothing for them) are NaN.
    """
    n_tags = probs[0].shape[-1] if len(probs) else 0
    merged = np.full((n_words, n_tags), np.nan, dtype=np.float32)
    best = np.full(n_words, -1.0)
    for window, window_probs in zip(windows, probs, strict=True):
        for position, word in window.first:
            context = window.context(position)
            if context > best[word]:
                best[word] = context
                merged[word] = window_probs[position]
    return merged


# ---------------------------------------------------------------------------------------------
# BIO decoding


def decode_tags(
    text: str,
    words: Sequence[tuple[int, int]],
    tags: Sequence[str | None],
    confidences: Sequence[float | None] | None = None,
) -> list[Span]:
    """Character spans from one BIO tag per word.

    ``B-X`` starts an entity; ``I-X`` continues an open ``X`` entity and otherwise starts one;
    ``O`` ends it, and so does a line break between two words. A word tagged None (the model saw
    none of its sub-tokens) is skipped without ending anything. An entity runs from its first
    word's start to its last word's end, so it never has outer whitespace. Its score is the mean
    of its words' ``confidences`` (the probability of the chosen tag), None without them.
    """
    spans: list[Span] = []
    label: str | None = None
    first = last = -1
    scores: list[float] = []

    def close() -> None:
        nonlocal label
        if label is not None:
            score = sum(scores) / len(scores) if scores and confidences is not None else None
            spans.append(Span(words[first][0], words[last][1], label, score))
        label = None

    previous_end: int | None = None
    for index, tag in enumerate(tags):
        if tag is None:
            continue
        start, end = words[index]
        if previous_end is not None and "\n" in text[previous_end:start]:
            close()
        previous_end = end
        prefix, _, name = tag.partition("-")
        if prefix == "I" and name == label:
            last = index
        elif prefix in ("B", "I") and name:
            close()
            label, first, last, scores = name, index, index, []
        else:
            close()
            continue
        if confidences is not None and (confidence := confidences[index]) is not None:
            scores.append(float(confidence))
    close()
    return spans


@functools.lru_cache(maxsize=8)
def _bio_constraints(tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Log-scores (0 or -inf) of each tag at an entity-free start, and of each (previous, current) pair."""
    inside = np.array([t.startswith("I-") for t in tags])
    allowed = np.ones((len(tags), len(tags)), dtype=bool)  # allowed[previous, current]
    for j, tag in enumerate(tags):
        if inside[j]:
            name = tag[2:]
            allowed[:, j] = [t in (f"B-{name}", f"I-{name}") for t in tags]
    return np.where(inside, -np.inf, 0.0), np.where(allowed, 0.0, -np.inf)


def best_tag_path(probs: np.ndarray, tags: Sequence[str], breaks: Sequence[bool]) -> list[int]:
    """The most probable valid BIO tag sequence (Viterbi over per-word log-probabilities).

    ``probs`` is ``(n_words, n_tags)``; ``breaks[i]`` is true when a line break precedes word
    ``i``. An ``I-X`` tag is only allowed right after ``B-X`` or ``I-X`` of the same line, so a
    decoded entity never starts inside itself or changes label halfway; argmax decoding would
    otherwise split "Ủy ban nhân dân" into two entities on one uncertain word.
    """
    n, n_tags = probs.shape
    if n == 0:
        return []
    start, transition = _bio_constraints(tuple(tags))
    log_probs = np.log(np.clip(probs, 1e-12, None))
    scores = start + log_probs[0]
    back = np.zeros((n, n_tags), dtype=np.int64)
    for i in range(1, n):
        if breaks[i]:
            back[i] = int(scores.argmax())
            scores = scores.max() + start + log_probs[i]
        else:
            candidates = scores[:, None] + transition
            back[i] = candidates.argmax(axis=0)
            scores = candidates.max(axis=0) + log_probs[i]
    path = [int(scores.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return path[::-1]


# ---------------------------------------------------------------------------------------------
# The model


def _threads_from_env() -> int | None:
    value = os.environ.get(THREADS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float32."""
    logits = logits.astype(np.float32, copy=False)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def padded_batches(
    windows: Sequence[Window], batch_size: int, pad_id: int
) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """Windows sorted by length, in batches: (window indices, int64 input ids padded with ``pad_id``, mask)."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    for lo in range(0, len(order), batch_size):
        batch = order[lo:lo + batch_size]
        width = max(len(windows[i].input_ids) for i in batch)
        ids = np.full((len(batch), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            n = len(windows[i].input_ids)
            ids[row, :n] = windows[i].input_ids
            mask[row, :n] = 1
        yield batch, ids, mask


class TorchRuntime:
    """Runs a transformers ``AutoModelForTokenClassification`` with PyTorch (eval mode, no autograd)."""

    name = "torch"

    def __init__(self, model: Any, threads: int | None = None):
        self.model = model
        self.threads = threads
        self.id2label = {int(k): v for k, v in model.config.id2label.items()}

    @contextmanager
    def running(self) -> Iterator[None]:
        """Eval mode, no autograd, and this runtime's thread count, all restored afterwards."""
        import torch

        previous_threads = torch.get_num_threads()
        was_training = self.model.training
        self.model.eval()
        try:
            if self.threads:
                torch.set_num_threads(self.threads)
            with torch.inference_mode():
                yield
        finally:
            if self.threads:
                torch.set_num_threads(previous_threads)
            self.model.train(was_training)

    def forward(self, ids: np.ndarray, mask: np.ndarray, hidden: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits ``(batch, tokens, tags)`` and, if asked, the last hidden states ``(batch, tokens, d)``."""
        import torch

        out = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                         output_hidden_states=hidden)
        states = out.hidden_states[-1].float().numpy() if hidden else None
        return out.logits.float().numpy(), states


class HFModel(NerModel):
    """A fine-tuned token-classification encoder (``<model dir>/hf``, or its ONNX export), with its span head.

    What executes the encoder is a runtime object: :class:`TorchRuntime`, or
    :class:`models.onnx_engine.OnnxRuntime` for a directory written by ``vner export-onnx``
    (``"runtime": "onnxruntime"`` in its meta; loading it imports neither torch nor transformers).
    """

    engine = ENGINE

    def __init__(self, path: Path, meta: ModelMeta, schema: LabelSchema, *,
                 threads: int | None = None, batch_size: int | None = None):
        super().__init__(path, meta, schema)
        threads = threads or _threads_from_env()
        settings = meta.training
        runner: Any
        if meta.runtime == "onnxruntime":
            from models.onnx_engine import ONNX_BATCH_SIZE, load_onnx

            runner, tokenizer, pad_id, files = load_onnx(Path(path), meta, threads)
            batch_size = batch_size or ONNX_BATCH_SIZE
        else:
            runner, tokenizer, files = self._load_torch(Path(path), threads)
            pad_id = getattr(tokenizer, "pad_token_id", None)
        self._setup(runner, tokenizer, int(settings.get("max_length", DEFAULT_MAX_LENGTH)),
                    int(settings.get("stride", DEFAULT_STRIDE)), batch_size or DEFAULT_BATCH_SIZE, pad_id,
                    load_span_head(files))

    @staticmethod
    def _load_torch(path: Path, threads: int | None) -> tuple[TorchRuntime, Any, Path]:
        from transformers import AutoModelForTokenClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_dir = path / HF_DIR
        if not (hf_dir / "config.json").is_file():
            raise ModelDirError(f"{path}: no transformers model in {HF_DIR}/ (config.json missing)")
        hf_logging.disable_progress_bar()
        tokenizer = AutoTokenizer.from_pretrained(hf_dir)
        return TorchRuntime(AutoModelForTokenClassification.from_pretrained(hf_dir), threads), tokenizer, hf_dir

    @classmethod
    def from_components(cls, model: Any, tokenizer: Any, schema: LabelSchema, *, path: Path,
                        max_length: int = DEFAULT_MAX_LENGTH, stride: int = DEFAULT_STRIDE,
                        threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                        span_head: SpanHead | None = None) -> HFModel:
        """Wrap an in-memory model, tokenizer and span head (used during training to score on dev)."""
        self = cls.__new__(cls)
        NerModel.__init__(self, Path(path), ModelMeta(engine=ENGINE, schema=schema), schema)
        self._setup(TorchRuntime(model, threads or _threads_from_env()), tokenizer, max_length, stride, batch_size,
                    getattr(tokenizer, "pad_token_id", None), span_head)
        return self

    def _setup(self, runner: Any, tokenizer: Any, max_length: int, stride: int, batch_size: int,
               pad_id: int | None, span_head: SpanHead | None) -> None:
        self.runner = runner
        self.tokenizer = tokenizer
        self.encoder = WindowEncoder(tokenizer, max_length, stride)
        self.batch_size = batch_size
        self.pad_id = pad_id if pad_id is not None else 0
        self.span_head = span_head
        self.tags = [runner.id2label[i] for i in range(len(runner.id2label))]
        labels = {t.partition("-")[2] for t in self.tags if t != "O"} | set(span_head.labels if span_head else [])
        unknown = labels - set(self.schema.names)
        if unknown:
            raise ModelDirError(f"{self.path}: the model uses labels outside the schema: {sorted(unknown)}")

    @property
    def runtime(self) -> str:
        return str(self.runner.name)

    def window_outputs(self, windows: Sequence[Window], hidden: bool = False) -> tuple[list[np.ndarray], list]:
        """Per window: softmax tag probabilities ``(len(input_ids), n_tags)`` and, if asked, last hidden states."""
        probs: list[np.ndarray] = [np.empty(0)] * len(windows)
        states: list[np.ndarray | None] = [None] * len(windows)
        with self.runner.running():
            for batch, ids, mask in padded_batches(windows, self.batch_size, self.pad_id):
                logits, last = self.runner.forward(ids, mask, hidden)
                batch_probs = softmax(logits)
                for row, i in enumerate(batch):
                    probs[i] = batch_probs[row, : len(windows[i].input_ids)]
                    if last is not None:
                        states[i] = last[row, : len(windows[i].input_ids)]
        return probs, states

    def window_probabilities(self, windows: Sequence[Window]) -> list[np.ndarray]:
        """Softmax tag probabilities, one ``(len(input_ids), n_tags)`` array per window."""
        return self.window_outputs(windows)[0]

    def predict_normalized(self, texts: list[str]) -> list[list[Span]]:
        bounds = [split_words(text) for text in texts]
        per_doc = self.encoder.encode_batch(
            [[text[a:b] for a, b in words] for text, words in zip(texts, bounds, strict=True)]
        )
        flat = [window for windows in per_doc for window in windows]
        probs, states = self.window_outputs(flat, hidden=self.span_head is not None)
        position = 0
        results = []
        for text, words, windows in zip(texts, bounds, per_doc, strict=True):
            window_range = slice(position, position + len(windows))
            position += len(windows)
            merged = merge_windows(len(words), windows, probs[window_range])
            seen = [j for j, row in enumerate(merged) if not np.isnan(row).any()]
            breaks = [k > 0 and "\n" in text[words[seen[k - 1]][1]:words[j][0]] for k, j in enumerate(seen)]
            tags: list[str | None] = [None] * len(words)
            confidences: list[float | None] = [None] * len(words)
            for j, best in zip(seen, best_tag_path(merged[seen], self.tags, breaks), strict=True):
                tags[j], confidences[j] = self.tags[best], float(merged[j, best])
            spans = decode_tags(text, words, tags, confidences)
            if self.span_head is not None and seen:
                hidden = merge_windows(len(words), windows, states[window_range])[seen]
                picks = self.span_head.decode(hidden, [text[a:b] for a, b in (words[j] for j in seen)], breaks)
                spans = merge_spans(spans, [Span(words[seen[a]][0], words[seen[b - 1]][1], label, score)
                                            for a, b, label, score in picks])
            results.append([s for s in spans if s.label in self.schema])
        return results
