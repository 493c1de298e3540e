"""``vner predict --format html``, ``vner predict --corpus`` (batch, resume) and ``vner serve`` start-up."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from models import load_model, predict
from models.cli import register

# The seed model fixture (conftest.py) is trained once per session.

SEEDS = read_documents(BUNDLED_GOLD_FILE)


def vner(*args: str | Path):
    """Run ``vner ARGS`` in this process (the real commands, as the ``vner`` script registers them)."""
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def displacy_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class TagChecker(HTMLParser):
    """Counts tags and checks that every opened element (except void ones) is closed in order."""

    VOID = {"br", "meta", "link", "img", "hr", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: dict[str, int] = {}
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.seen[tag] = self.seen.get(tag, 0) + 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")


def test_html_page_highlights_entities_with_schema_colors(seed_model: Path, tmp_path: Path) -> None:
    article = tmp_path / "bai-viet.txt"
    article.write_bytes(SEEDS[2].text.replace("\n", "\r\n").encode("utf-8"))
    gold = tmp_path / "two.jsonl"
    write_documents(gold, SEEDS[:2])
    result = vner("predict", article, gold, "--model", seed_model, "--format", "html")
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert page.lstrip().startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in page and '<html lang="vi">' in page

    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert not checker.errors and not checker.stack
    assert checker.seen["html"] == checker.seen["head"] == checker.seen["body"] == 1
    assert checker.seen["figure"] == 3  # one per document

    texts = [SEEDS[2].text.replace("\n", "\r\n"), SEEDS[0].text, SEEDS[1].text]
    expected = predict(texts, seed_model)
    assert sum(map(len, expected)) > 10
    assert page.count('<mark class="entity"') == sum(map(len, expected))
    for entities in expected:
        for ent in entities:
            assert displacy_escape(ent["text"]) in page
    for label in load_schema().labels:  # the legend: every label, in its schema colour
        assert label.name in page and f"background: {label.color}" in page
    for label in {e["label"] for ents in expected for e in ents}:
        assert f"{label}</span>" in page  # the label tag inside a highlighted entity
    assert "bai-viet.txt" in page and SEEDS[0].id in page

    out = tmp_path / "page.html"
    to_file = vner("predict", gold, "--model", seed_model, "--format", "html", "--out", out)
    assert to_file.exit_code == 0 and to_file.stdout == ""
    written = out.read_text(encoding="utf-8")
    assert written.count("<figure") == 2 and "</html>" in written


def test_table_and_jsonl_outputs_still_work(seed_model: Path, tmp_path: Path) -> None:
    gold = tmp_path / "one.jsonl"
    write_documents(gold, SEEDS[3:4])
    table = vner("predict", gold, "--model", seed_model)
    assert table.exit_code == 0 and SEEDS[3].id in table.stdout and "label" in table.stdout
    lines = vner("predict", gold, "--model", seed_model, "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"id": SEEDS[3].id, "entities": predict(SEEDS[3].text, seed_model)}]


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_corpus_batch_mode_resumes(seed_model: Path, tmp_path: Path) -> None:
    store = tmp_path / "corpus.jsonl"
    store.write_text("".join(json.dumps(d.to_dict(with_spans=False), ensure_ascii=False) + "\n" for d in SEEDS))
    out = tmp_path / "predictions" / "entities.jsonl"
    ids = [d.id for d in SEEDS]

    first = vner("predict", "--corpus", store, "--out", out, "--model", seed_model, "--batch-size", "2",
                 "--partition-size", "2")
    assert first.exit_code == 0, first.output
    assert first.stdout == ""  # progress and summary go to stderr
    assert "5 documents predicted in 3 partitions (0 of 3 done before" in first.stderr
    complete = out.read_text(encoding="utf-8")
    assert _ids(out) == ids
    records = [json.loads(line) for line in complete.splitlines()]
    version = load_model(seed_model).version
    assert records[0] == {"id": SEEDS[0].id, "entities": predict(SEEDS[0].text, seed_model), "model": version}

    # nothing left to do: the file stays as it is
    again = vner("predict", "--corpus", store, "--out", out, "--model", seed_model, "--partition-size", "2")
    assert again.exit_code == 0 and "0 documents predicted in 0 partitions (3 of 3 done before" in again.stderr
    assert out.read_text(encoding="utf-8") == complete

    # a file edited after the run is not silently mixed with new rows
    out.write_text("".join(complete.splitlines(keepends=True)[:-1]), encoding="utf-8")
    edited = vner("predict", "--corpus", store, "--out", out, "--model", seed_model, "--partition-size", "2")
    assert edited.exit_code == 2 and "changed or removed after the job finished" in edited.stderr


def test_corpus_mode_never_truncates_a_file_it_did_not_write(tmp_path: Path) -> None:
    """Issue 12: `--out` naming an existing one-line gold file used to lose that line as an "incomplete" one."""
    store = tmp_path / "corpus.jsonl"
    write_documents(store, SEEDS[:2])
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(json.dumps(SEEDS[3].to_dict(), ensure_ascii=False).encode("utf-8"))  # no final newline
    before = gold.read_bytes()
    result = vner("predict", "--corpus", store, "--out", gold, "--model", "rules")
    assert result.exit_code == 2
    assert "gold.jsonl exists and was not written by `vner predict --corpus`" in result.stderr
    assert "choose another --out" in result.stderr and "Traceback" not in result.output
    assert gold.read_bytes() == before and not (tmp_path / "gold.jsonl.batch").exists()

    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "notes.txt").write_text("keep")
    refused = vner("predict", "--corpus", store, "--out", directory, "--model", "rules")
    assert refused.exit_code == 2 and "was not written by" in refused.stderr
    assert [p.name for p in directory.iterdir()] == ["notes.txt"]


def test_corpus_mode_checks_its_options(seed_model: Path, tmp_path: Path) -> None:
    store = tmp_path / "corpus.jsonl"
    write_documents(store, SEEDS[:1])
    no_out = vner("predict", "--corpus", store, "--model", seed_model)
    assert no_out.exit_code == 2 and "--out" in no_out.output
    html = vner("predict", "--corpus", store, "--out", tmp_path / "x.html", "--format", "html", "--model", seed_model)
    assert html.exit_code == 2 and "JSON Lines" in html.output
    nothing = vner("predict", "--model", seed_model)
    assert nothing.exit_code == 2 and "--corpus" in nothing.output


@pytest.mark.usefixtures("no_shipped_model")
def test_serve_without_a_model_fails_with_a_clear_message() -> None:
    result = vner("serve", "--port", "0")
    assert result.exit_code == 1
    assert "cannot start" in result.stderr and "vner train" in result.stderr
