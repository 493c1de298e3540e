"""Every ``vner`` command ends a user error in one line naming the file (and line), exit status 2; --debug shows more.

Each case runs the installed ``vner`` script in a fresh process, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from corpus.document import Document
from corpus.jsonl import write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from models.card import ModelMeta, write_meta
from models.cli import _table

ARTICLE = "Ngày 3-4, Huyện ủy Hậu Lộc tổ chức hội nghị; ông Nguyễn Văn Hải phát biểu."


def run(vner: str, *args: str | Path, stdin: bytes = b"", cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([vner, *map(str, args)], input=stdin, capture_output=True, env=env, cwd=cwd)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str, status: int = 2) -> str:
    stderr = result.stderr.decode()
    assert result.returncode == status, stderr
    assert "Traceback" not in stderr and "│" not in stderr  # no plain or rich traceback
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def rules_model(tmp_path: Path) -> Path:
    """A model directory of the rules engine: loads at once, needs no training."""
    write_meta(tmp_path / "rules-model", ModelMeta(engine="rules", schema=load_schema()))
    return tmp_path / "rules-model"


def test_predict_empty_file_empty_stdin_and_utf16_jsonl(vner: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert_one_line_error(run(vner, "predict", "--model", "rules", empty), str(empty), "empty input")
    assert_one_line_error(run(vner, "predict", "--model", "rules", "-", stdin=b" \n"), "stdin: empty input")
    utf16 = tmp_path / "articles.jsonl"
    utf16.write_bytes((json.dumps({"id": "a", "text": ARTICLE}, ensure_ascii=False) + "\n").encode("utf-16"))
    assert_one_line_error(run(vner, "predict", "--model", "rules", utf16), f"{utf16}:1", "not UTF-8", "UTF-16")


def test_evaluate_refuses_malformed_gold(vner: str, tmp_path: Path, rules_model: Path) -> None:
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(json.dumps({"id": "u", "text": ARTICLE, "spans": [{"start": 0, "end": 8, "label": "PERSON"}]}))
    assert_one_line_error(
        run(vner, "evaluate", "--model", rules_model, "--data", unknown),
        f"{unknown}:1",
        "[0:8] PERSON",
        "unknown label",
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert_one_line_error(run(vner, "evaluate", "--model", rules_model, "--data", empty), "no documents")
    utf16 = tmp_path / "utf16.jsonl"
    utf16.write_bytes(BUNDLED_GOLD_FILE.read_text(encoding="utf-8").encode("utf-16"))
    assert_one_line_error(run(vner, "evaluate", "--model", rules_model, "--data", utf16), f"{utf16}:1", "UTF-16")


def test_train_checks_its_data_before_writing_anything(vner: str, tmp_path: Path) -> None:
    notjson, empty, dev = tmp_path / "notjson.jsonl", tmp_path / "empty.jsonl", tmp_path / "dev.jsonl"
    notjson.write_text("this is not json\n")
    empty.write_bytes(b"")
    write_documents(dev, [])
    dev.write_text(BUNDLED_GOLD_FILE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    no_spans = tmp_path / "no-spans.jsonl"
    no_spans.write_text(json.dumps({"id": "n", "text": ARTICLE}), encoding="utf-8")
    out = tmp_path / "model"
    for train, words in (
        (notjson, [f"{notjson}:1", "not JSON"]),
        (empty, [str(empty), "no documents"]),
        (no_spans, [str(no_spans), "no entity spans"]),
    ):
        result = run(vner, "train", "--train", train, "--dev", dev, "--out", out)
        assert_one_line_error(result, *words)
        assert not out.exists()


def test_corpus_split_and_stats(vner: str, tmp_path: Path) -> None:
    notjson = tmp_path / "notjson.jsonl"
    notjson.write_text('{"id": "a", "text": "x"}\nnot json\n')
    assert_one_line_error(run(vner, "corpus", "split", notjson, "--out-dir", tmp_path / "split"), f"{notjson}:2")
    one = tmp_path / "one.jsonl"
    one.write_text('{"id": "a", "text": "x"}\n')
    assert_one_line_error(run(vner, "corpus", "split", one, "--out-dir", tmp_path / "split"), "at least 2 documents")
    assert not (tmp_path / "split").exists()
    assert_one_line_error(run(vner, "corpus", "stats", tmp_path / "missing.jsonl"), "missing.jsonl", "No such file")


def test_ingest_into_a_store_with_a_torn_last_line(vner: str, tmp_path: Path) -> None:
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    store = tmp_path / "store.jsonl"
    assert run(vner, "corpus", "ingest", article, "--store", store).returncode == 0
    intact = store.read_bytes()
    store.write_bytes(intact + b'{"id": "doc-12", "te')  # a write cut short
    line = assert_one_line_error(run(vner, "corpus", "ingest", article, "--store", store), f"{store}:2", "incomplete")
    assert "interrupted" in line
    assert store.read_bytes() == intact + b'{"id": "doc-12", "te'  # nothing lost, nothing appended


def test_debug_shows_the_traceback(vner: str, tmp_path: Path) -> None:
    notjson = tmp_path / "notjson.jsonl"
    notjson.write_text("nope\n")
    result = run(vner, "--debug", "corpus", "split", notjson, "--out-dir", tmp_path / "split")
    assert result.returncode != 0
    assert "Traceback" in result.stderr.decode() or "│" in result.stderr.decode()


def test_table_output_escapes_control_characters(vner: str, tmp_path: Path) -> None:
    text = ARTICLE.replace("Hậu Lộc", "Hậu\x1b]0;pwned\x07 Lộc")
    evil = {"id": "x\x1b[2J", "title": "Tiêu đề\x1b[31m[bold]", "text": text}
    articles = tmp_path / "evil.jsonl"
    articles.write_text(json.dumps(evil) + "\n", encoding="utf-8")
    result = run(vner, "predict", "--model", "rules", articles)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "\x1b" not in out and "\x07" not in out
    assert "x\\x1b[2J" in out and "\\x1b[31m[bold]" in out  # id and title shown, escaped, markup as written
    # entity texts too (the rules stop "Hậu Lộc" at the escape, so a table is rendered here directly)
    console = Console(record=True, width=200)
    start, end = text.index("Huyện"), text.index("Lộc") + 3
    console.print(_table(Document("d", text), [{"start": start, "end": end, "label": "UNIT", "text": text[start:end]}]))
    assert "Huyện ủy Hậu\\x1b]0;pwned\\x07 Lộc" in console.export_text()


def test_binary_text_file_is_named(vner: str, tmp_path: Path) -> None:
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert_one_line_error(run(vner, "predict", "--model", "rules", binary), str(binary), "binary")


def test_studio_import_gold_checks_the_gold_before_connecting(vner: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "b", "text": ARTICLE, "spans": [{"start": 60, "end": 999, "label": "OFFICIAL"}]}))
    result = run(vner, "studio", "import-gold", bad, "--port", "1")  # nothing listens there: never reached
    assert_one_line_error(result, f"{bad}:1", "[60:999] OFFICIAL", "past the end")


def test_predict_corpus_reads_a_lone_surrogate_as_a_replacement_character(vner: str, tmp_path: Path) -> None:
    store = tmp_path / "store.jsonl"
    store.write_text(json.dumps({"id": "s", "text": "Huyện ủy \ud800 Hậu Lộc họp ngày 3-4."}) + "\n")  # "\ud800"
    out = tmp_path / "out.jsonl"
    result = run(vner, "predict", "--corpus", store, "--out", out, "--model", "rules")
    assert result.returncode == 0, result.stderr.decode()
    assert f"warning: {store}:1: 1 lone surrogate" in result.stderr.decode()
    [record] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [e["text"] for e in record["entities"]] == ["Huyện ủy", "ngày 3-4"]
