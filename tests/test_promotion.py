"""`vner train` moves the default model (LATEST) only after a successful run, and not to a worse model."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.document import Document
from corpus.gold import GoldError
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from models.loading import BUNDLED_MODEL_DIR, default_model_dir, latest_pointer
from training.run import train_model
from training.spacy_train import SpacyTrainingError

SEEDS = read_documents(BUNDLED_GOLD_FILE)


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"good": tmp_path / "good.jsonl", "poor": tmp_path / "poor.jsonl", "dev": tmp_path / "dev.jsonl"}
    write_documents(paths["good"], SEEDS[:4])
    one = SEEDS[0]  # one short line with one entity: learns almost nothing
    first = min(one.spans)
    write_documents(paths["poor"], [Document("poor", one.text[:first.end + 1], spans=[first])])
    write_documents(paths["dev"], SEEDS[4:])
    return paths


def test_a_worse_model_does_not_replace_the_default_unless_asked(files: dict[str, Path], tmp_path: Path) -> None:
    schema = load_schema()
    assert default_model_dir() == BUNDLED_MODEL_DIR  # nothing trained yet: the shipped model, trained on these seeds
    good = train_model("spacy", schema, files["good"], files["dev"], tmp_path / "good", max_epochs=12)
    assert default_model_dir().resolve() == (tmp_path / "good").resolve()  # though the shipped one scores better
    assert "now the default" in good.default
    poor = train_model("spacy", schema, files["poor"], files["dev"], tmp_path / "poor", max_epochs=1)
    assert (poor.meta.micro_f1() or 0) < (good.meta.micro_f1() or 0)
    assert default_model_dir().resolve() == (tmp_path / "good").resolve()
    assert "stays" in poor.default and (tmp_path / "poor" / "vner-model.json").is_file()
    train_model("spacy", schema, files["poor"], files["dev"], tmp_path / "poor2", max_epochs=1, promote="always")
    assert default_model_dir().resolve() == (tmp_path / "poor2").resolve()


def test_a_failed_run_writes_nothing_and_keeps_the_default(files: dict[str, Path], tmp_path: Path) -> None:
    schema = load_schema()
    train_model("spacy", schema, files["good"], files["dev"], tmp_path / "good", max_epochs=1)
    before = latest_pointer().read_text(encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "text": "Huyện ủy", "spans": [{"start": 0, "end": 8, "label": "PARTY"}]}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for train in (bad, empty):
        with pytest.raises(GoldError):
            train_model("spacy", schema, train, files["dev"], tmp_path / "never", max_epochs=1)
    with pytest.raises(SpacyTrainingError):  # fails once the work has begun
        train_model("spacy", schema, files["good"], files["dev"], tmp_path / "interrupted", max_epochs=1,
                    overrides={"training.max_epochs": "not a number"})
    assert not (tmp_path / "never").exists() and not (tmp_path / "interrupted").exists()
    assert not list(tmp_path.glob(".*staging"))
    assert latest_pointer().read_text(encoding="utf-8") == before
