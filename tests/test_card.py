"""``vner-model.json`` read and written as a typed ModelMeta: versioned, compatible with older files, checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.schema import load_schema
from models.card import META_FILE, META_VERSION, DataFile, ModelDirError, ModelMeta, read_meta, write_meta
from models.loading import load_model

# vner-model.json as written before format_version existed (version 1), with a key this code does not know
OLD_STYLE = {
    "engine": "rules",
    "schema": load_schema().to_dict(),
    "created": "2025-01-02T03:04:05+00:00",
    "data": {"dev": {"path": "dev.jsonl", "sha256": "ab" * 32, "documents": 2, "entities": 7}},
    "alignment": "all 7 gold spans align with token boundaries",
    "training": {"max_epochs": 3, "seconds": 1.5},
    "versions": {"python": "3.11.7"},
    "metrics": {
        "dev": {
            "micro": {"precision": 0.5, "recall": 0.25, "f1": 1 / 3},
            "per_label": {"OFFICIAL": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}},
        }
    },
    "tuned_by": "hand",
}


def _write(directory: Path, data: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / META_FILE).write_text(json.dumps(data), encoding="utf-8")
    return directory


def test_a_file_without_format_version_reads_as_version_1_and_keeps_what_it_holds(tmp_path: Path) -> None:
    meta = read_meta(_write(tmp_path / "old", OLD_STYLE))
    assert meta.format_version == 1 and meta.engine == "rules" and meta.schema == load_schema()
    assert meta.data == {"dev": DataFile("dev.jsonl", "ab" * 32, 2, 7)}
    assert meta.micro_f1("dev") == pytest.approx(1 / 3) and meta.micro_f1("train") is None
    assert meta.per_label_f1("dev") == {"OFFICIAL": pytest.approx(2 / 3)}
    assert meta.training == {"max_epochs": 3, "seconds": 1.5} and meta.runtime is None
    assert meta.extra == {"tuned_by": "hand"}
    write_meta(tmp_path / "new", meta)  # written back: the same content, now with its version
    written = json.loads((tmp_path / "new" / META_FILE).read_text(encoding="utf-8"))
    assert written == {"format_version": META_VERSION, **OLD_STYLE}
    assert read_meta(tmp_path / "new") == meta
    assert load_model(tmp_path / "old").meta == meta


def test_a_newer_format_version_is_refused_naming_the_file(tmp_path: Path) -> None:
    for version in (META_VERSION + 1, "1", 0):
        model_dir = _write(tmp_path / f"v{version!r}", {**OLD_STYLE, "format_version": version})
        with pytest.raises(ModelDirError, match=f"unknown format_version {version!r}") as caught:
            read_meta(model_dir)
        assert str(model_dir / META_FILE) in str(caught.value) and "upgrade vner" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"engine": None}, "missing 'engine'"),
        ({"engine": 3}, "'engine' must be a string"),
        ({"schema": []}, "'schema' must be a JSON object"),
        ({"schema": {"labels": []}}, "the label set is empty"),
        ({"created": 20250102}, "'created' must be a string"),
        ({"data": {"dev": {"path": "dev.jsonl"}}}, "'data' must map splits"),
        ({"metrics": [0.5]}, "'metrics' must be a JSON object"),
        ({"quantized": "yes"}, "'quantized' must be a boolean"),
    ],
)
def test_malformed_fields_are_refused_naming_file_and_key(tmp_path: Path, change: dict, message: str) -> None:
    data = {key: value for key, value in {**OLD_STYLE, **change}.items() if value is not None}
    model_dir = _write(tmp_path / "bad", data)
    with pytest.raises(ModelDirError, match=message) as caught:
        read_meta(model_dir)
    assert str(model_dir / META_FILE) in str(caught.value)


def test_not_an_object_and_not_json(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="expected a JSON object"):
        read_meta(_write(tmp_path / "list", [OLD_STYLE]))
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / META_FILE).write_text('{"engine": "ru', encoding="utf-8")
    with pytest.raises(ModelDirError, match="not valid JSON"):
        read_meta(tmp_path / "torn")


def test_unset_fields_are_left_out_of_the_file(tmp_path: Path) -> None:
    write_meta(tmp_path, ModelMeta(engine="rules", schema=load_schema()))
    written = json.loads((tmp_path / META_FILE).read_text(encoding="utf-8"))
    assert written == {"format_version": META_VERSION, "engine": "rules", "schema": load_schema().to_dict()}
