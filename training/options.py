"""``KEY=VALUE`` options on the command line (spaCy config overrides, trainer options)."""

from __future__ import annotations

import json
from typing import Any


def key_value(pair: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as a pair; the value is read as JSON when it parses (numbers, true, lists), else as text."""
    key, sep, value = pair.partition("=")
    if not sep:
        raise ValueError(f"expected KEY=VALUE, got {pair!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
