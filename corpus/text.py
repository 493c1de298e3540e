"""Text normalization that remembers where every character came from.

Models see NFC text with plain whitespace; callers get offsets into the string they passed.
:func:`normalize` returns the normalized text and an :class:`OffsetMap` back to the original.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

# Characters read as a plain space (tabs, no-break and other Unicode spaces, but not newlines).
_SPACES = "\t\x0b\x0c\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
_NEWLINES = "\r\n|[\r\u2028\u2029\x85]"
_MARKED = ".[\u0300-\u036f]+"  # a character followed by combining marks
_SPECIAL = {
    True: re.compile(f"{_NEWLINES}|[{_SPACES}]|{_MARKED}", re.S),
    False: re.compile(f"{_NEWLINES}|{_MARKED}", re.S),
}
_NEWLINE = re.compile(_NEWLINES)


# A word for the models: a number with its separators ("6.325", "25,2"), a run of letters (one
# syllable), or any other single symbol. Gold span boundaries fall between such words.
WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+|\S")

# Open "oa", "oe", "uy" syllables with the tone on the second vowel ("hoà", "uỷ"); "quý" is standard.
_OLD_STYLE_ENDINGS = tuple("o" + v for v in "àáảãạèéẻẽẹ") + tuple("u" + v for v in "ỳýỷỹỵ")


@dataclass(frozen=True)
class OffsetMap:
    """For each normalized character, the original [start, end) it came from."""

    starts: list[int]
    ends: list[int]
    original_length: int

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalized span ``[start, end)`` to the original string."""
        if start >= end:
            pos = self.starts[start] if start < len(self.starts) else self.original_length
            return pos, pos
        return self.starts[start], self.ends[end - 1]

    def to_normalized(self, start: int, end: int) -> tuple[int, int]:
        """Map an original span to the normalized characters that lie wholly inside it."""
        first = bisect.bisect_left(self.starts, start)
        last = bisect.bisect_right(self.ends, end)
        return first, max(first, last)


def normalize(text: str, *, spaces: bool = True) -> tuple[str, OffsetMap]:
    """NFC-normalize ``text`` and make every line break ``\\n`` (and, if ``spaces``, every space " ").

    Returns the normalized text and the map of its characters back to ``text``.
    """
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def emit(piece: str, start: int, end: int) -> None:
        out.append(piece)
        starts.extend([start] * len(piece))
        ends.extend([end] * len(piece))

    def emit_plain(start: int, end: int) -> None:
        run = text[start:end]
        composed = unicodedata.normalize("NFC", run)
        if len(composed) == len(run):  # one character for one: keep positions
            out.append(composed)
            starts.extend(range(start, end))
            ends.extend(range(start + 1, end + 1))
        else:
            for i, char in enumerate(run):
                emit(unicodedata.normalize("NFC", char), start + i, start + i + 1)

    pos = 0
    for match in _SPECIAL[spaces].finditer(text):
        if match.start() > pos:
            emit_plain(pos, match.start())
        cluster = match.group()
        if _NEWLINE.fullmatch(cluster):
            emit("\n", match.start(), match.end())
        elif len(cluster) == 1:
            emit(" ", match.start(), match.end())
        else:
            emit(unicodedata.normalize("NFC", cluster), match.start(), match.end())
        pos = match.end()
    if pos < len(text):
        emit_plain(pos, len(text))
    return "".join(out), OffsetMap(starts, ends, len(text))


def old_style_tone_marks(text: str) -> list[str]:
    """Words written with the tone on the second vowel of oa/oe/uy ("hoà", "uỷ"), in order."""
    words = re.findall(r"\w+", unicodedata.normalize("NFC", text))
    return [w for w in words if w.lower().endswith(_OLD_STYLE_ENDINGS) and not w.lower().startswith("qu")]


def split_words(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every word of ``text``: syllables, numbers and single symbols."""
    return [match.span() for match in WORD.finditer(text)]


def paragraph_bounds(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each non-blank line of ``text``, without its surrounding whitespace."""
    bounds = []
    for match in re.finditer(r"[^\n]+", text):
        line = match.group()
        if line.strip():
            start = match.start() + len(line) - len(line.lstrip())
            bounds.append((start, start + len(line.strip())))
    return bounds
