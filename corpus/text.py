"""Text normalization that remembers where every character came from.

Models see NFC text with plain whitespace; callers get offsets into the string they passed.
:func:`normalize` returns the normalized text and an :class:`OffsetMap` back to the original.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

# Characters read as a plain space (tabs, no-break and other Unicode spaces, but not newlines).
_SPACES = "\t\x0b\x0c\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
_NEWLINES = "\r\n|[\r\u2028\u2029\x85]"
# Invisible characters that only break words apart: soft hyphen, zero-width space, non-joiner and
# joiner, word joiner, and the byte order mark (zero-width no-break space). They are removed.
INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
# Half of a UTF-16 surrogate pair on its own (JSON "\\ud800"): not a character, and not encodable.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
_SPECIAL = {
    True: re.compile(f"{_NEWLINES}|[{_SPACES}]|[{INVISIBLE}]+|{LONE_SURROGATE.pattern}"),
    False: re.compile(f"{_NEWLINES}|[{INVISIBLE}]+|{LONE_SURROGATE.pattern}"),
}
_NEWLINE = re.compile(_NEWLINES)
# A run of characters NFC may change longer than this is mapped back as a whole, not piece by piece.
_REFINE_LIMIT = 32


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
    """NFC-normalize ``text``, make every line break ``\\n`` (and, if ``spaces``, every space " "),
    drop invisible characters (:data:`INVISIBLE`: zero-width characters, soft hyphen, BOM) and
    replace lone surrogates by U+FFFD.

    Returns the normalized text and the map of its characters back to ``text``: each normalized
    character points to the smallest stretch of ``text`` that produced it.
    """
    plain, starts, ends = _replace_specials(text, spaces)
    if unicodedata.is_normalized("NFC", plain):
        return plain, OffsetMap(starts, ends, len(text))
    out: list[str] = []
    nfc_starts: list[int] = []
    nfc_ends: list[int] = []
    pos = 0
    for match in _unstable_runs().finditer(plain):
        a, b = match.span()
        out.append(plain[pos:a])
        nfc_starts.extend(starts[pos:a])
        nfc_ends.extend(ends[pos:a])
        for piece_start, piece_end, composed in _nfc_pieces(plain, a, b):
            out.append(composed)
            nfc_starts.extend([starts[piece_start]] * len(composed))
            nfc_ends.extend([ends[piece_end - 1]] * len(composed))
        pos = b
    out.append(plain[pos:])
    nfc_starts.extend(starts[pos:])
    nfc_ends.extend(ends[pos:])
    return "".join(out), OffsetMap(nfc_starts, nfc_ends, len(text))


def _replace_specials(text: str, spaces: bool) -> tuple[str, list[int], list[int]]:
    """Line breaks, spaces (if ``spaces``) and invisible characters replaced; with each character's origin."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for match in _SPECIAL[spaces].finditer(text):
        a, b = match.span()
        out.append(text[pos:a])
        starts.extend(range(pos, a))
        ends.extend(range(pos + 1, a + 1))
        cluster = match.group()
        if cluster[0] not in INVISIBLE:
            out.append("\n" if _NEWLINE.fullmatch(cluster) else REPLACEMENT if LONE_SURROGATE.match(cluster) else " ")
            starts.append(a)
            ends.append(b)
        pos = b
    out.append(text[pos:])
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    return "".join(out), starts, ends


def _nfc_pieces(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """``(start, end, NFC)`` of the smallest pieces of ``text[start:end]`` that normalize independently.

    A piece is cut off at the first point where normalizing both sides apart gives the same text
    as normalizing the whole ("x" of "x\u0958"; not inside "e\u0302\u0301", which composes to one).
    """
    pieces: list[tuple[int, int, str]] = []
    while start < end:
        whole = unicodedata.normalize("NFC", text[start:end])
        if whole == text[start:end]:  # unchanged: character for character
            return pieces + [(k, k + 1, text[k]) for k in range(start, end)]
        cut = end
        if len(whole) > 1 and end - start <= _REFINE_LIMIT:
            for k in range(start + 1, end):
                head = unicodedata.normalize("NFC", text[start:k])
                if whole.startswith(head) and whole[len(head) :] == unicodedata.normalize("NFC", text[k:end]):
                    cut = k
                    break
        composed = whole if cut == end else unicodedata.normalize("NFC", text[start:cut])
        pieces.append((start, cut, composed))
        start = cut
    return pieces


@cache
def _unstable_runs() -> re.Pattern[str]:
    """Runs NFC may change: characters that are no NFC boundary, with the character before them.

    A boundary character (canonical combining class 0, unchanged by NFC, never composed with a
    character before it) is one before which NFC can cut a text and normalize both parts apart
    (Unicode UAX #15). Built on first use (0.1 s): only texts that are not NFC need it.
    """
    second: set[str] = {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}  # Hangul
    decomposable: list[str] = []
    for block in (range(0x300, 0x40000), range(0xE0000, 0xE1000)):  # no decomposition or mark elsewhere
        for code in block:
            char = chr(code)
            decomposition = unicodedata.decomposition(char)
            if decomposition and not decomposition.startswith("<"):
                parts = decomposition.split()
                if len(parts) == 2:
                    second.add(chr(int(parts[1], 16)))
                decomposable.append(char)
            elif unicodedata.combining(char):
                decomposable.append(char)
    unstable = set(second)
    for char in decomposable:
        first = unicodedata.normalize("NFD", char)[0]
        if (
            unicodedata.combining(char)
            or unicodedata.normalize("NFC", char) != char
            or unicodedata.combining(first)
            or first in second
        ):
            unstable.add(char)
    ranges = _ranges(sorted(map(ord, unstable)))
    members = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile(f"[^{members}]?[{members}]+")


def _ranges(codes: list[int]) -> list[tuple[int, int]]:
    """Consecutive code points grouped as ``(first, last)``."""
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return ranges


def replace_lone_surrogates(text: str) -> tuple[str, int]:
    """``text`` with every lone surrogate replaced by U+FFFD (offsets do not move), and how many there were."""
    return LONE_SURROGATE.subn(REPLACEMENT, text)


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
