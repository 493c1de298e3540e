"""Ingestion: every kind of bad input is reported by file, and the rest of the batch still goes in."""

from __future__ import annotations

import json
import os
import subprocess
import unicodedata
from pathlib import Path

import pytest

from corpus.document import Span
from corpus.ingest import ingest
from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE, BUNDLED_SEEDS_DIR
from corpus.store import CorpusStore

SEED = (BUNDLED_SEEDS_DIR / "003_f6f2329802a31a9e.txt").read_text(encoding="utf-8")
ARTICLE = "UBND huyện Hậu Lộc họp phiên thường kỳ\n\nNgày 3-4, đồng chí Vũ Thị Hà, Phó Chủ tịch UBND huyện chủ trì."
TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def cp1258_bytes(text: str) -> bytes:
    """Windows-1258 as legacy editors wrote it: base letters precomposed, tone marks combining."""
    out = []
    for char in text:
        try:
            char.encode("cp1258")
            out.append(char)
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONES))
            out.append(base + "".join(c for c in parts if c in TONES))
    return "".join(out).encode("cp1258")


def run_ingest(tmp_path: Path, files: dict[str, bytes], **kwargs):
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    store = CorpusStore(tmp_path / "store.jsonl")
    report = ingest([folder], store, **kwargs)
    docs = {Path(d.meta["path"]).name: d for d in read_documents(store.path)} if store.path.exists() else {}
    return report, docs


def problems_for(report, name: str) -> list[str]:
    return [p.message for p in report.problems if Path(p.where.split(":")[0]).name == name]


def test_bundled_seeds_titles_dates_and_idempotence(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path / "store.jsonl")
    first = ingest([BUNDLED_SEEDS_DIR], store)
    assert len(first.added) == 5 and not first.errors
    docs = {d.source: d for d in read_documents(store.path)}
    assert docs["000_06b209a08eb93b42.txt"].date == "2023-04"
    assert docs["001_ce84e53fd8931ae2.txt"].date == "2024-01"
    assert sum(d.date is None for d in docs.values()) == 3
    title = "Hậu Lộc: Phấn đấu thực hiện tốt các nhiệm vụ trọng tâm quý II-2023"
    assert docs["000_06b209a08eb93b42.txt"].title == title
    # The ingested text is exactly the annotated text of the bundled gold file.
    gold_texts = {d.source: d.text for d in read_documents(BUNDLED_GOLD_FILE)}
    assert {name: d.text for name, d in docs.items()} == gold_texts
    second = ingest([BUNDLED_SEEDS_DIR], CorpusStore(store.path))
    assert second.added == [] and len(second.skipped) == 5
    assert len(read_documents(store.path)) == 5


def test_shared_seeds_through_the_cli(tmp_path: Path, shared: Path, vner: str) -> None:
    store = tmp_path / "cli-store.jsonl"
    command = [vner, "corpus", "ingest", str(shared / "seeds"), "--store", str(store)]
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "5 added" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "0 added, 5 already in the store" in second.stdout
    assert sorted(d.date or "" for d in read_documents(store)) == ["", "", "", "2023-04", "2024-01"]


def test_bad_files_are_reported_and_the_rest_goes_in(tmp_path: Path) -> None:
    files = {
        "good.txt": ARTICLE.encode("utf-8"),
        "empty.txt": b"",
        "blank.txt": b"  \n\n \t",
        "binary.txt": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40,
        "big.txt": ("Huyện ủy Hậu Lộc họp. " * 500_000).encode("utf-8"),
    }
    report, docs = run_ingest(tmp_path, files)
    assert set(docs) == {"good.txt"}
    assert problems_for(report, "empty.txt") == ["empty file"]
    assert problems_for(report, "blank.txt") == ["empty file"]
    assert "binary" in problems_for(report, "binary.txt")[0]
    assert "over the" in problems_for(report, "big.txt")[0] and "MB" in problems_for(report, "big.txt")[0]


def test_big_file_goes_in_when_the_limit_allows(tmp_path: Path) -> None:
    text = "Huyện ủy Hậu Lộc họp. " * 500_000
    assert len(text.encode("utf-8")) > 10_000_000
    report, docs = run_ingest(tmp_path, {"big.txt": text.encode("utf-8")}, max_bytes=20 * 1024 * 1024)
    assert not report.errors and docs["big.txt"].text == text.strip()


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [(cp1258_bytes(SEED), "cp1258"), (SEED.encode("utf-16"), "utf-16"), (b"\xef\xbb\xbf" + SEED.encode(), "utf-8-sig")],
)
def test_other_encodings_are_detected(tmp_path: Path, encoded: bytes, encoding: str) -> None:
    report, docs = run_ingest(tmp_path, {"legacy.txt": encoded})
    doc = docs["legacy.txt"]
    assert doc.text == unicodedata.normalize("NFC", SEED).strip()
    assert doc.meta["encoding"] == encoding
    if encoding != "utf-8-sig":
        assert any("not UTF-8" in m for m in problems_for(report, "legacy.txt"))


def test_nfd_and_windows_line_endings_are_normalized(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", ARTICLE).replace("\n", "\r\n")
    assert nfd != ARTICLE
    report, docs = run_ingest(tmp_path, {"nfd.txt": nfd.encode("utf-8")})
    doc = docs["nfd.txt"]
    assert doc.text == ARTICLE
    assert doc.meta["normalized"] == ["nfc+newlines"]
    # Same text as the NFC original: recognized as a duplicate.
    again = ingest([tmp_path / "in"], CorpusStore(tmp_path / "store.jsonl"))
    assert again.added == []


def test_old_style_tone_marks_are_kept_and_recorded(tmp_path: Path) -> None:
    text = "Huyện uỷ Thọ Xuân họp bàn về hoà giải, khoẻ mạnh; quý I năm 2024"
    report, docs = run_ingest(tmp_path, {"old.txt": text.encode("utf-8")})
    doc = docs["old.txt"]
    assert doc.text == text
    assert doc.meta["old_style_tone_marks"] == ["hoà", "khoẻ", "uỷ"]
    assert any("old-style" in m for m in problems_for(report, "old.txt"))


def test_jsonl_bad_lines_do_not_stop_good_ones(tmp_path: Path) -> None:
    good = {"id": "a1", "title": "T", "date": "2024-05", "source": "x", "text": ARTICLE}
    nfd_with_span = {
        "id": "a2",
        "text": unicodedata.normalize("NFD", "Phó Chủ tịch UBND huyện Vũ Thị Hà"),
        "spans": [{"start": 0, "end": 0, "label": "POSITION"}],
    }
    start = nfd_with_span["text"].index(unicodedata.normalize("NFD", "Vũ"))
    nfd_with_span["spans"] = [{"start": start, "end": len(nfd_with_span["text"]), "label": "OFFICIAL"}]
    lines = [json.dumps(good, ensure_ascii=False), "{not json", json.dumps({"id": "x"}), json.dumps(nfd_with_span)]
    report, _ = run_ingest(tmp_path, {"batch.jsonl": "\n".join(lines).encode("utf-8")})
    docs = {d.id: d for d in read_documents(tmp_path / "store.jsonl")}
    assert set(docs) == {"a1", "a2"}
    assert docs["a1"].date == "2024-05"
    messages = [str(p) for p in report.errors]
    assert any("batch.jsonl:2" in m for m in messages) and any("batch.jsonl:3" in m for m in messages)
    span = docs["a2"].spans[0]
    assert docs["a2"].text[span.start : span.end] == "Vũ Thị Hà"


def test_html_main_text_is_extracted(tmp_path: Path) -> None:
    html = f"""<!DOCTYPE html><html><head><title>Hậu Lộc họp - Báo Thanh Hóa</title>
    <script>var x = "<p>menu</p>";</script></head><body>
    <nav><ul><li><a href="/">Trang chủ</a></li><li><a href="/ts">Thời sự</a></li></ul></nav>
    <article><h1>Hậu Lộc họp</h1>{"".join(f"<p>{ARTICLE} &amp; NN&amp;PTNT lần {i}.</p>" for i in range(6))}</article>
    <footer>Bản quyền thuộc Báo Thanh Hóa</footer></body></html>"""
    report, docs = run_ingest(tmp_path, {"page.html": html.encode("utf-8")})
    doc = docs["page.html"]
    assert "Vũ Thị Hà" in doc.text and "NN&PTNT" in doc.text
    assert "<" not in doc.text and "var x" not in doc.text and "Bản quyền" not in doc.text
    assert doc.title.startswith("Hậu Lộc họp")


def test_missing_path_is_reported(tmp_path: Path) -> None:
    report = ingest([tmp_path / "nope.txt"], CorpusStore(tmp_path / "s.jsonl"))
    assert [p.message for p in report.errors] == ["no such file"]


def test_cli_exit_code_and_messages_name_the_file(tmp_path: Path, vner: str) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "ok.txt").write_text(ARTICLE, encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    env = {**os.environ, "COLUMNS": "200"}
    run = subprocess.run(
        [vner, "corpus", "ingest", str(folder), "--store", str(tmp_path / "s.jsonl")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 1
    assert "empty.txt: empty file" in run.stderr
    assert "1 added" in run.stdout


def test_spans_out_of_range_negative_or_fractional_are_refused_as_written(tmp_path: Path) -> None:
    text = "Chủ tịch UBND huyện Hậu Lộc Vũ Thị Hà dự họp."
    nfd = unicodedata.normalize("NFD", text)

    def at(i: int) -> int:  # an NFC offset in the NFD text, as an NFD gold file writes it
        return len(unicodedata.normalize("NFD", text[:i]))

    spans = [
        {"start": at(28), "end": 999, "label": "OFFICIAL"},
        {"start": -4, "end": at(8), "label": "POSITION"},
        {"start": 1.7, "end": at(8), "label": "POSITION"},
        {"start": "0", "end": at(8), "label": "POSITION"},
        {"start": 0, "end": at(27), "label": "POSITION"},
        {"start": at(20), "end": at(27), "label": "LOCATION"},  # inside the POSITION
        {"start": at(28), "end": at(37), "label": "OFFICIAL"},
    ]
    lines = [
        json.dumps({"id": "s1", "text": nfd, "spans": spans}, ensure_ascii=False),
        json.dumps({"id": "s2", "text": ARTICLE}, ensure_ascii=False),
    ]
    report, _ = run_ingest(tmp_path, {"spans.jsonl": "\n".join(lines).encode("utf-8")})
    docs = {d.id: d for d in read_documents(tmp_path / "store.jsonl")}
    assert set(docs) == {"s1", "s2"}  # the document and the rest of the batch go in
    assert docs["s1"].text == text and docs["s1"].spans == [Span(0, 27, "POSITION"), Span(28, 37, "OFFICIAL")]
    refused = [str(p) for p in report.refused_spans]
    assert len(refused) == 5 and all(m.startswith("error: ") and "spans.jsonl:1: span " in m for m in refused)
    assert f"[{at(28)}:999] OFFICIAL refused: ends past the end of the text (length {len(nfd)})" in refused[0]
    assert f"[-4:{at(8)}] POSITION refused: negative offset" in refused[1]
    assert "span start must be a whole number, not 1.7" in refused[2]
    assert "span start must be a whole number, not '0'" in refused[3]
    assert f"[{at(20)}:{at(27)}] LOCATION refused: overlaps [0:27] POSITION" in refused[4]
    assert not report.refused_documents


def test_dates_and_titles_of_the_wrong_type_are_refused_with_the_line(tmp_path: Path) -> None:
    lines = [
        {"id": "d1", "text": ARTICLE, "date": {"y": 2024}},
        {"id": "d2", "text": ARTICLE + " 2", "title": ["a"]},
        {"id": "d3", "text": ARTICLE + " 3", "date": "5/3/2024"},
        {"id": "d4", "text": ARTICLE + " 4", "date": "2024-03-05", "title": "Tiêu đề"},
    ]
    report, _ = run_ingest(tmp_path, {"typed.jsonl": "\n".join(json.dumps(x) for x in lines).encode()})
    docs = {d.id: d for d in read_documents(tmp_path / "store.jsonl")}
    assert list(docs) == ["d4"] and docs["d4"].date == "2024-03-05" and docs["d4"].title == "Tiêu đề"
    messages = [str(p) for p in report.refused_documents]
    assert "typed.jsonl:1: not a document: 'date' must be YYYY, YYYY-MM or YYYY-MM-DD, not {'y': 2024}" in messages[0]
    assert "typed.jsonl:2: not a document: 'title' must be a string, not list ['a']" in messages[1]
    assert "typed.jsonl:3:" in messages[2] and "'5/3/2024'" in messages[2]


def test_a_lone_surrogate_is_replaced_and_later_files_still_go_in(tmp_path: Path) -> None:
    bad = json.dumps({"id": "u1", "text": "Huyện ủy \ud800 Hậu Lộc", "title": "T\udc00"})  # escaped as \ud800
    assert "\\ud800" in bad
    files = {"a.jsonl": bad.encode(), "b.txt": ARTICLE.encode("utf-8")}
    report, docs = run_ingest(tmp_path, files)
    stored = {d.id: d for d in read_documents(tmp_path / "store.jsonl")}
    assert stored["u1"].text == "Huyện ủy \ufffd Hậu Lộc" and stored["u1"].title == "T\ufffd"
    assert "b.txt" in docs and not report.errors
    assert problems_for(report, "a.jsonl") == ["2 lone surrogates (invalid Unicode) replaced by U+FFFD"]


def test_a_line_separator_inside_a_json_string_does_not_split_the_line(tmp_path: Path) -> None:
    record = json.dumps({"id": "ls", "text": "Dòng một\u2028dòng hai"}, ensure_ascii=False)
    assert "\u2028" in record
    report, _ = run_ingest(tmp_path, {"ls.jsonl": record.encode("utf-8")})
    assert not report.errors
    assert read_documents(tmp_path / "store.jsonl")[0].text == "Dòng một\ndòng hai"
