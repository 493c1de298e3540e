"""BIO conversion for the transformers engine: chars -> word tags -> windows -> merged tags -> chars."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tokenizer

from corpus.document import Document, Span
from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from models.hf_engine import (
    Window,
    WindowEncoder,
    best_tag_path,
    decode_tags,
    merge_windows,
    plan_windows,
    split_words,
)
from training.alignment import AlignmentReport
from training.bio import IGNORE, document_features, window_labels, word_tags

SEEDS = read_documents(BUNDLED_GOLD_FILE)
TAGS = load_schema().bio_tags()
LABEL2ID = {tag: i for i, tag in enumerate(TAGS)}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    return build_tokenizer(tmp_path_factory.mktemp("tok"))


def _one_hot_round_trip(doc: Document, encoder: WindowEncoder) -> tuple[list[Span], list[Window], list]:
    """Gold spans -> tags -> window labels -> one-hot 'predictions' -> merged -> decoded spans."""
    words = split_words(doc.text)
    windows = encoder.encode([doc.text[a:b] for a, b in words])
    tag_ids = [LABEL2ID[t] for t in word_tags(doc.text, words, doc.spans)]
    probs = []
    for window in windows:
        labels = window_labels(window, tag_ids)
        rows = np.zeros((len(labels), len(TAGS)), dtype=np.float32)
        rows[:, 0] = 1.0  # specials and continuation pieces say O: they must never be read
        for position, label in enumerate(labels):
            if label != IGNORE:
                rows[position] = 0.0
                rows[position, label] = 1.0
        probs.append(rows)
    merged = merge_windows(len(words), windows, probs)
    tags = [TAGS[int(row.argmax())] for row in merged]
    return decode_tags(doc.text, words, tags, [float(row.max()) for row in merged]), windows, words


def test_seed_spans_round_trip_exactly_through_small_windows(tokenizer) -> None:
    encoder = WindowEncoder(tokenizer, max_length=24, stride=8)
    crossing = 0
    for doc in SEEDS:
        decoded, windows, words = _one_hot_round_trip(doc, encoder)
        assert [(s.start, s.end, s.label) for s in decoded] == sorted((s.start, s.end, s.label) for s in doc.spans)
        assert all(s.score == 1.0 for s in decoded)
        assert all(len(w.input_ids) <= 24 for w in windows)
        assert {word for w in windows for _, word in w.first} == set(range(len(words)))  # nothing truncated away
        for span in doc.spans:
            inside = {j for j, (a, b) in enumerate(words) if span.start <= a and b <= span.end}
            shown = [inside & {word for _, word in w.first} for w in windows]
            crossing += any(part and part != inside for part in shown)
    assert crossing > 50  # many spans were cut by a window edge and still came back whole


def test_windows_overlap_by_at_most_stride_and_carry_special_tokens(tokenizer) -> None:
    encoder = WindowEncoder(tokenizer, max_length=24, stride=8)
    doc = SEEDS[0]
    words = split_words(doc.text)
    windows = encoder.encode([doc.text[a:b] for a, b in words])
    assert len(windows) > 10
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for left, right in pairwise(windows):
        assert left.input_ids[0] == cls and left.input_ids[-1] == sep
        shared = {w for w in left.word_ids if w is not None} & {w for w in right.word_ids if w is not None}
        assert 0 < sum(1 for w in right.word_ids if w in shared) <= 8
    assert windows[0].at_start and windows[-1].at_end and not windows[1].at_start


def test_plan_windows_covers_every_word() -> None:
    counts = [1, 3, 2, 0, 5, 1, 1, 40, 2, 2, 1, 3]
    plans = plan_windows(counts, body=8, stride=3)
    covered = set()
    for (a, b), (c, _) in pairwise(plans):
        assert a < c <= b  # progress, and no gap
    for a, b in plans:
        assert b - a == 1 or sum(counts[a:b]) <= 8
        covered |= set(range(a, b))
    assert covered == set(range(len(counts)))
    assert plan_windows([], 8, 3) == []
    with pytest.raises(ValueError, match="stride"):
        WindowEncoder(_dummy(), max_length=10, stride=10)  # no special tokens here: the body is 10


def _dummy():
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def test_an_over_long_word_keeps_its_first_piece(tokenizer) -> None:
    encoder = WindowEncoder(tokenizer, max_length=12, stride=2)
    words = ["Huyện", "9" * 60, "ủy"]
    windows = encoder.encode(words)
    assert all(len(w.input_ids) <= 12 for w in windows)
    assert {word for w in windows for _, word in w.first} == {0, 1, 2}


def test_window_labels_mark_first_pieces_only(tokenizer) -> None:
    doc = SEEDS[1]
    rows = document_features(doc, WindowEncoder(tokenizer, 32, 8), LABEL2ID, AlignmentReport())
    tokens = labelled = 0
    for row in rows:
        assert len(row["input_ids"]) == len(row["labels"]) == len(row["attention_mask"]) <= 32
        assert row["labels"][0] == row["labels"][-1] == IGNORE  # [CLS], [SEP]
        tokens += len(row["labels"]) - 2
        labelled += sum(label != IGNORE for label in row["labels"])
    assert 0 < labelled < tokens  # the small vocabulary splits words: continuation pieces are masked
    assert {label for row in rows for label in row["labels"]} - {IGNORE} > {0, LABEL2ID["B-UNIT"], LABEL2ID["I-UNIT"]}


def test_misaligned_spans_are_reported_per_label_not_dropped_silently() -> None:
    text = "Huyện ủy Hậu Lộc họp ngày 3-4 tại xã Hoa Lộc."
    words = split_words(text)
    good = Span(0, 16, "UNIT")  # "Huyện ủy Hậu Lộc"
    mid_word = Span(9, 15, "LOCATION")  # "Hậu Lộ": ends inside "Lộc"
    starts_inside = Span(22, 29, "DATE")  # "gày 3-4"
    overlapping = Span(6, 8, "UNIT")  # "ủy" inside the good span
    unknown = Span(34, 44, "PLACE")  # "xã Hoa Lộc" with a label outside the schema
    assert text[good.start:good.end] == "Huyện ủy Hậu Lộc" and text[mid_word.start:mid_word.end] == "Hậu Lộ"
    report = AlignmentReport()
    tags = word_tags(text, words, [good, mid_word, starts_inside, overlapping, unknown], report,
                     doc_id="demo", labels=load_schema().names)
    assert tags[:4] == ["B-UNIT", "I-UNIT", "I-UNIT", "I-UNIT"] and set(tags[4:]) == {"O"}
    assert report.total == {"UNIT": 2, "LOCATION": 1, "DATE": 1, "PLACE": 1}
    assert report.misaligned == {"UNIT": 1, "LOCATION": 1, "DATE": 1, "PLACE": 1}
    assert "LOCATION 1/1" in report.summary() and any("'Hậu Lộ'" in e for e in report.examples)
    assert decode_tags(text, words, tags) == [good]


def test_adjacent_entities_of_one_label_stay_apart() -> None:
    text = "Bí thư Huyện ủy Trần Văn An, Lê Thị Bình"
    words = split_words(text)
    spans = [Span(0, 15, "POSITION"), Span(16, 27, "OFFICIAL"), Span(29, 40, "OFFICIAL")]
    assert decode_tags(text, words, word_tags(text, words, spans)) == spans
    touching = "Trần An Lê Bình"  # two names with nothing between them
    spans = [Span(0, 7, "OFFICIAL"), Span(8, 15, "OFFICIAL")]
    w = split_words(touching)
    assert word_tags(touching, w, spans) == ["B-OFFICIAL", "I-OFFICIAL", "B-OFFICIAL", "I-OFFICIAL"]
    assert decode_tags(touching, w, word_tags(touching, w, spans)) == spans


def test_decoding_rules() -> None:
    text = "a b c\nd e f g"
    words = split_words(text)  # a b c | d e f g
    # I- without B- starts an entity; a new label ends the old one; O ends; a line break ends.
    tags = ["I-UNIT", "I-UNIT", "I-UNIT", "I-UNIT", "I-DATE", "O", "I-DATE"]
    conf = [0.9, 0.7, 0.8, 0.6, 0.5, 0.99, 0.4]
    spans = decode_tags(text, words, tags, conf)
    expected = [(0, 5, "UNIT"), (6, 7, "UNIT"), (8, 9, "DATE"), (12, 13, "DATE")]
    assert [(s.start, s.end, s.label) for s in spans] == expected
    assert spans[0].score == pytest.approx(0.8) and spans[1].score == pytest.approx(0.6)
    # an unseen word (None) neither ends nor starts an entity
    spans = decode_tags(text, words, ["B-UNIT", None, "I-UNIT", "O", "O", "O", None])
    assert [(s.start, s.end, s.label, s.score) for s in spans] == [(0, 5, "UNIT", None)]
    assert decode_tags(text, words, ["O"] * 7) == [] and decode_tags("", [], []) == []


def _probs(rows: list[dict[str, float]]) -> np.ndarray:
    """Per-word probabilities from {tag: p} dicts; unnamed tags share what is left."""
    out = np.zeros((len(rows), len(TAGS)), dtype=np.float32)
    for i, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (len(TAGS) - len(row))
        out[i] = [row.get(tag, rest) for tag in TAGS]
    return out


def test_best_tag_path_keeps_entities_whole() -> None:
    # argmax would read B-UNIT, I-LOCATION, I-UNIT: a UNIT, a LOCATION and another UNIT
    probs = _probs([{"B-UNIT": 0.9}, {"I-LOCATION": 0.45, "I-UNIT": 0.4}, {"I-UNIT": 0.9}])
    assert [TAGS[int(i)] for i in probs.argmax(axis=1)] == ["B-UNIT", "I-LOCATION", "I-UNIT"]
    path = [TAGS[i] for i in best_tag_path(probs, TAGS, [False] * 3)]
    assert path == ["B-UNIT", "I-UNIT", "I-UNIT"]
    # no entity may begin with I-, at the start or after a line break
    probs = _probs([{"I-DATE": 0.6, "B-DATE": 0.3}, {"I-DATE": 0.6, "B-DATE": 0.3}])
    assert [TAGS[i] for i in best_tag_path(probs, TAGS, [False, False])] == ["B-DATE", "I-DATE"]
    assert [TAGS[i] for i in best_tag_path(probs, TAGS, [False, True])] == ["B-DATE", "B-DATE"]
    # a confident O stays O
    probs = _probs([{"O": 0.95}, {"I-UNIT": 0.5, "O": 0.45}])
    assert [TAGS[i] for i in best_tag_path(probs, TAGS, [False, False])] == ["O", "O"]
    assert best_tag_path(np.zeros((0, len(TAGS))), TAGS, []) == []


def test_merge_takes_each_word_from_its_most_central_window() -> None:
    # Two windows over 6 words: A shows words 0-3, B shows words 2-5 (one token each, no specials).
    a = Window(list(range(4)), [0, 1, 2, 3], [(i, i) for i in range(4)], (0, 4), True, False)
    b = Window(list(range(4)), [2, 3, 4, 5], [(i, i + 2) for i in range(4)], (0, 4), False, True)
    pa = np.tile(np.array([1.0, 0.0], dtype=np.float32), (4, 1))  # A says tag 0 everywhere
    pb = np.tile(np.array([0.0, 1.0], dtype=np.float32), (4, 1))  # B says tag 1 everywhere
    merged = merge_windows(7, [a, b], [pa, pb])
    # word 2: A has it 1 token from its cut end, B 0 tokens from its cut start -> A;
    # word 3: A 0 from its cut end, B 1 from its cut start -> B.
    assert merged[:6].argmax(axis=1).tolist() == [0, 0, 0, 1, 1, 1]
    assert np.isnan(merged[6]).all()  # a word no window shows
    with pytest.raises(ValueError, match="zip"):  # a runtime that answers for fewer windows fails loudly
        merge_windows(7, [a, b], [pa])


def test_words_are_syllables_numbers_and_symbols() -> None:
    text = "Đạt 6.325 ha (102% KH), tăng 25,2%."
    assert [text[a:b] for a, b in split_words(text)] == [
        "Đạt", "6.325", "ha", "(", "102", "%", "KH", ")", ",", "tăng", "25,2", "%", ".",
    ]


def test_seed_documents_all_align() -> None:
    report = AlignmentReport()
    for doc in SEEDS:
        word_tags(doc.text, split_words(doc.text), doc.spans, report, doc_id=doc.id)
    assert not report.misaligned and sum(report.total.values()) == sum(len(d.spans) for d in SEEDS)


def test_tokenizer_dir_is_reusable(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    build_tokenizer(tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded.is_fast and loaded.cls_token == "[CLS]"
