"""Normalization keeps a map back to the caller's string."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.text import (
    INVISIBLE,
    OffsetMap,
    normalize,
    old_style_tone_marks,
    paragraph_bounds,
    replace_lone_surrogates,
)


def test_offsets_map_back_through_nfd_crlf_tabs_nbsp_and_emoji() -> None:
    name = "Vũ Thị Hà"
    original = "😀\tPhó Chủ tịch\xa0UBND\r\nhuyện " + unicodedata.normalize("NFD", name) + " 𝐀."
    text, offsets = normalize(original)
    assert text == "😀 Phó Chủ tịch UBND\nhuyện Vũ Thị Hà 𝐀."
    start = text.index(name)
    a, b = offsets.to_original(start, start + len(name))
    assert unicodedata.normalize("NFC", original[a:b]) == name
    a, b = offsets.to_original(text.index("UBND"), text.index("UBND") + 4)
    assert original[a:b] == "UBND"


def test_spaces_kept_when_asked() -> None:
    text, _ = normalize("a\xa0b\r\nc", spaces=False)
    assert text == "a\xa0b\nc"


def test_to_normalized_inverts_to_original() -> None:
    original = unicodedata.normalize("NFD", "Huyện ủy Hậu Lộc")
    text, offsets = normalize(original)
    a, b = offsets.to_original(9, 16)
    assert offsets.to_normalized(a, b) == (9, 16)
    assert text[9:16] == "Hậu Lộc"


def test_old_style_tone_marks() -> None:
    assert old_style_tone_marks("Huyện uỷ, hoà bình, quý, hòa, hoàn, khoẻ, thuỷ") == ["uỷ", "hoà", "khoẻ", "thuỷ"]


def test_paragraph_bounds_trim_each_line() -> None:
    text = "  Tiêu đề \n\n Đoạn một.\n   \nĐoạn hai"
    assert [text[a:b] for a, b in paragraph_bounds(text)] == ["Tiêu đề", "Đoạn một.", "Đoạn hai"]


# ---------------------------------------------------------------------------------------------
# Every offset map, on random Unicode


def reference(text: str, spaces: bool = True) -> str:
    """What ``normalize`` must produce, written the plain way: replace, drop, then NFC the whole."""
    text = re.sub(r"\r\n|[\r\u2028\u2029\x85]", "\n", text)
    if spaces:
        text = re.sub("[\t\x0b\x0c\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]", " ", text)
    text = re.sub("[\ud800-\udfff]", "\ufffd", re.sub(f"[{INVISIBLE}]", "", text))
    return unicodedata.normalize("NFC", text)


# Characters where NFC does something: combining marks (Vietnamese and others, out of order),
# Hangul jamo that compose, characters NFC expands or replaces (U+0958, U+212B, U+0F73, U+0344),
# starters that compose with a starter before them (Kannada, Sinhala), plus line breaks, spaces,
# invisible characters, lone surrogates, Vietnamese letters and astral characters.
TRICKY = (
    "\u0300\u0301\u0302\u0303\u0306\u0309\u031b\u0323\u0327\u0345\u05b0\u093c\u0f71\u0f72"
    "\u1100\u1161\u11a8\uac00\u0958\u212b\u0f73\u0344\u1e9b\u0cc6\u0cc2\u0cd5\u0dd9\u0dcf\u0dca"
    "\r\n\u2028\x85\t\xa0\u2000\u3000 \ud800\udfff" + INVISIBLE + "aeoAEOuyxđĐ.,ăâêôơư😀𝐀"
)
RANDOM_TEXT = st.text(st.one_of(st.sampled_from(TRICKY), st.characters()), max_size=40)


def groups(offsets: OffsetMap) -> list[tuple[int, int, int, int]]:
    """``(i, j, start, end)``: normalized ``[i, j)`` came from original ``[start, end)``, one stretch each."""
    out: list[tuple[int, int, int, int]] = []
    for k, where in enumerate(zip(offsets.starts, offsets.ends, strict=True)):
        if out and (out[-1][2], out[-1][3]) == where:
            out[-1] = (out[-1][0], k + 1, *where)
        else:
            out.append((k, k + 1, *where))
    return out


@settings(max_examples=400, deadline=None)
@given(RANDOM_TEXT, st.booleans())
def test_normalize_maps_each_character_to_exactly_what_produced_it(original: str, spaces: bool) -> None:
    text, offsets = normalize(original, spaces=spaces)
    assert text == reference(original, spaces)
    assert unicodedata.is_normalized("NFC", text)
    assert len(offsets.starts) == len(offsets.ends) == len(text)
    previous_end = 0
    for i, j, start, end in groups(offsets):
        assert previous_end <= start < end <= len(original)
        assert reference(original[previous_end:start], spaces) == ""  # only dropped characters between
        assert reference(original[start:end], spaces) == text[i:j]  # this stretch made exactly these
        for cut in range(start + 1, end):  # and no smaller stretch would do
            assert reference(original[start:cut], spaces) + reference(original[cut:end], spaces) != text[i:j]
        assert offsets.to_original(i, j) == (start, end)
        assert offsets.to_normalized(start, end) == (i, j)
        previous_end = end
    assert reference(original[previous_end:], spaces) == ""


@settings(max_examples=200, deadline=None)
@given(RANDOM_TEXT, st.booleans())
def test_normalize_is_idempotent(original: str, spaces: bool) -> None:
    text, _ = normalize(original, spaces=spaces)
    again, offsets = normalize(text, spaces=spaces)
    assert again == text
    assert offsets.starts == list(range(len(text))) and offsets.ends == list(range(1, len(text) + 1))


def test_composition_and_expansion_in_one_run() -> None:
    original = "\u1100\u1161x\u0958"  # two jamo compose to one syllable; U+0958 expands to two characters
    text, offsets = normalize(original)
    assert text == "\uac00x\u0915\u093c" and unicodedata.is_normalized("NFC", text)
    assert offsets.to_original(0, 1) == (0, 2)
    assert offsets.to_original(1, 2) == (2, 3)  # the x is the x
    assert offsets.to_original(2, 4) == (3, 4)


def test_zero_width_characters_and_bom_are_dropped_and_offsets_map_back() -> None:
    original = "\ufeffHuyện ủy Hậu\u200d Lộc\u200b, Hậ\u00adu\u2060Lộc"
    text, offsets = normalize(original)
    assert text == "Huyện ủy Hậu Lộc, HậuLộc"
    assert offsets.to_original(0, 5) == (1, 6)  # "Huyện", not the BOM
    start = text.index("Hậu Lộc")
    a, b = offsets.to_original(start, start + len("Hậu Lộc"))
    assert original[a:b] == "Hậu\u200d Lộc"


def test_lone_surrogates_become_replacement_characters_in_place() -> None:
    original = "Huyện\ud800 ủy \udc00"
    text, offsets = normalize(original)
    assert text == "Huyện\ufffd ủy \ufffd"
    assert offsets.starts == list(range(len(original)))
    assert replace_lone_surrogates(original) == (text, 2)
    assert replace_lone_surrogates("😀") == ("😀", 0)
