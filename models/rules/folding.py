"""Tone folding: "hoà"/"hòa" and "uỷ"/"ủy" are the same word to the rules."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_TONES = "\u0300\u0301\u0303\u0309\u0323"  # grave, acute, tilde, hook above, dot below
_OLD = re.compile(f"(?<![qQ])([oO][aAeE]|[uU][yY])([{_TONES}])$")
_NEW = re.compile(f"(?<![qQ])([oOuU])([{_TONES}])([aAeEyY])$")


def new_style(word: str) -> str:
    """A syllable with the tone of open "oa"/"oe"/"uy" on the first vowel ("hoà" -> "hòa")."""
    decomposed = unicodedata.normalize("NFD", word)
    match = _OLD.search(decomposed)
    if match:
        pair, tone = match.group(1), match.group(2)
        decomposed = decomposed[: match.start()] + pair[0] + tone + pair[1]
    return unicodedata.normalize("NFC", decomposed)


def old_style(word: str) -> str:
    """A syllable with the tone of open "oa"/"oe"/"uy" on the second vowel ("hòa" -> "hoà")."""
    decomposed = unicodedata.normalize("NFD", word)
    match = _NEW.search(decomposed)
    if match and (match.group(1) in "oO") == (match.group(3) in "aAeE"):
        decomposed = decomposed[: match.start()] + match.group(1) + match.group(3) + match.group(2)
    return unicodedata.normalize("NFC", decomposed)


def fold(word: str) -> str:
    """The matching key of a syllable: NFC, lower case, new-style tone marks."""
    return new_style(unicodedata.normalize("NFC", word).lower())


def restyle(text: str, style: Callable[[str], str]) -> str:
    """``text`` with ``style`` (:func:`new_style` or :func:`old_style`) applied to every word."""
    return re.sub(r"\w+", lambda m: style(m.group()), text)
