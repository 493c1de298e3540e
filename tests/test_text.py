"""Normalization keeps a map back to the caller's string."""

from __future__ import annotations

import unicodedata

from corpus.text import normalize, old_style_tone_marks, paragraph_bounds


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
