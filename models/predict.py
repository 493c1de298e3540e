"""``predict``: entities of raw article text, with offsets into the caller's own string."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Literal, overload

from corpus.document import Span
from corpus.errors import InputWarning, UserError
from corpus.spans import trim_span
from corpus.text import LONE_SURROGATE, normalize, replace_lone_surrogates
from models.base import NerModel
from models.loading import load_model

DEFAULT_MAX_CHARS = 1_000_000
CHUNK_CHARS = 20_000
_BREAKS = (re.compile(r"\n"), re.compile(r"[.!?;]\s"), re.compile(r"\s"))


class TextTooLongError(UserError, ValueError):
    """The text is longer than the configured maximum."""


def chunk_bounds(text: str, size: int = CHUNK_CHARS) -> list[tuple[int, int]]:
    """Cut ``text`` into pieces of at most ``size`` characters at line, sentence or word breaks."""
    bounds, start = [], 0
    while len(text) - start > size:
        window = text[start:start + size]
        cut = 0
        for pattern in _BREAKS:
            hits = [m.end() for m in pattern.finditer(window) if m.end() > size // 2]
            if hits:
                cut = hits[-1]
                break
        cut = cut or size
        bounds.append((start, start + cut))
        start += cut
    bounds.append((start, len(text)))
    return bounds


def _predict_batch(originals: list[str], model: NerModel, max_chars: int) -> list[list[dict[str, Any]]]:
    """Normalize and chunk every text, run the model over all chunks at once, map spans back."""
    for original in originals:
        if len(original) > max_chars:
            raise TextTooLongError(f"text has {len(original):,} characters; the limit is {max_chars:,} (max_chars)")
    prepared = []  # (original, normalized text, offset map, chunk bounds)
    chunks: list[str] = []
    surrogates = sum(len(LONE_SURROGATE.findall(original)) for original in originals)
    if surrogates:
        warnings.warn(f"{surrogates} lone surrogate(s) (invalid Unicode) read as U+FFFD; offsets do not move",
                      InputWarning, stacklevel=3)
    for original in originals:
        text, offsets = normalize(original)
        bounds = chunk_bounds(text) if text.strip() else []
        prepared.append((original, text, offsets, bounds))
        chunks += [text[a:b] for a, b in bounds]
    found = model.predict_normalized(chunks) if chunks else []
    if len(found) != len(chunks):
        raise RuntimeError(f"{model!r} returned {len(found)} results for {len(chunks)} texts")
    results_of = iter(found)
    results = []
    for original, text, offsets, bounds in prepared:
        entities = []
        for chunk_start, _ in bounds:
            for span in next(results_of):
                # the spec never starts or ends a span with a space or punctuation (pull refuses such spans)
                placed = Span(span.start + chunk_start, span.end + chunk_start, span.label, span.score)
                moved = trim_span(text, placed, punctuation=True)
                if moved is None:
                    continue
                start, end = offsets.to_original(moved.start, moved.end)
                surface = replace_lone_surrogates(original[start:end])[0]
                entities.append({"start": start, "end": end, "label": span.label, "text": surface, "score": span.score})
        results.append(sorted(entities, key=lambda e: (e["start"], e["end"])))
    return results


@overload
def predict(
    text: str, model: str | Path | NerModel | None = ..., max_chars: int = ..., records: Literal[False] = ...
) -> list[dict[str, Any]]: ...
@overload
def predict(
    text: list[str], model: str | Path | NerModel | None = ..., max_chars: int = ..., records: Literal[False] = ...
) -> list[list[dict[str, Any]]]: ...
@overload
def predict(
    text: str, model: str | Path | NerModel | None = ..., max_chars: int = ..., *, records: Literal[True]
) -> dict[str, Any]: ...
@overload
def predict(
    text: list[str], model: str | Path | NerModel | None = ..., max_chars: int = ..., *, records: Literal[True]
) -> list[dict[str, Any]]: ...
@overload
def predict(
    text: str | list[str], model: str | Path | NerModel | None = ..., max_chars: int = ..., records: bool = ...
) -> Any: ...


def predict(text, model=None, max_chars=DEFAULT_MAX_CHARS, records=False):
    """Entities of ``text`` (or of each text in a list): ``start``, ``end``, ``label``, ``text``, ``score``.

    Offsets index the string as given (NFD, CRLF, tabs, no-break spaces and zero-width
    characters are handled internally); ``text`` is ``original[start:end]``, except that a lone
    surrogate (invalid Unicode, e.g. from JSON "\\ud800") is read and returned as U+FFFD, with an
    :class:`~corpus.errors.InputWarning`. ``model`` is a model directory, a loaded model, or None
    for the default model.

    With ``records=True`` each text gets ``{"entities", "relations", "records"}`` instead of its
    entity list: HOLDS/PERIOD relations and the people and values tables (``models.records``).
    """
    if isinstance(text, (list, tuple)):
        bad = [type(t).__name__ for t in text if not isinstance(t, str)]
        if bad:
            raise TypeError(f"predict() takes str or a list of str; the list holds {bad[0]}")
    elif not isinstance(text, str):
        raise TypeError(f"predict() takes str or a list of str, not {type(text).__name__}")
    texts = [text] if isinstance(text, str) else list(text)
    loaded = load_model(model)
    results = _predict_batch(texts, loaded, max_chars)
    if records:
        from models.records import with_records

        results = [with_records(t, entities, loaded.schema) for t, entities in zip(texts, results, strict=True)]
    return results[0] if isinstance(text, str) else results
