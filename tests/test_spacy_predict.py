"""A small spaCy model trained on the bundled seeds: training, model directory, predict, evaluate."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from pathlib import Path

import pytest

from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from models import load_model, predict
from models.card import ModelDirError, read_meta
from models.predict import TextTooLongError, chunk_bounds

SEEDS = read_documents(BUNDLED_GOLD_FILE)


def test_model_directory_describes_itself(seed_model: Path) -> None:
    meta = read_meta(seed_model)
    assert meta.engine == "spacy" and meta.format_version == 1
    assert meta.schema.names == load_schema().names
    assert meta.data["train"].documents == 4 and len(meta.data["train"].sha256) == 64
    assert set(meta.metrics["dev"]["per_label"]) == set(load_schema().names)
    assert "spacy" in meta.versions
    card = (seed_model / "README.md").read_text(encoding="utf-8")
    assert "Dev scores" in card and "OFFICIAL" in card


def test_offsets_refer_to_the_callers_string(seed_model: Path) -> None:
    clean = SEEDS[0].text
    found = predict(clean, seed_model)
    assert len(found) > 5
    prefix = "😀 🇻🇳\n"  # a line of its own: what the model makes of it is not compared below
    mangled = prefix + unicodedata.normalize("NFD", clean).replace("\n", "\r\n").replace(" ", "\t", 3)
    for original, entities in ((clean, found), (mangled, predict(mangled, seed_model))):
        for ent in entities:
            assert original[ent["start"]:ent["end"]] == ent["text"]
            assert ent["text"] == ent["text"].strip()
    nfc_texts = [unicodedata.normalize("NFC", e["text"]).replace("\t", " ")
                 for e in predict(mangled, seed_model) if e["start"] >= len(prefix)]
    assert nfc_texts == [e["text"] for e in found]


def test_batch_equals_one_by_one(seed_model: Path) -> None:
    texts = [d.text for d in SEEDS[:3]] + ["", "   \n"]
    assert predict(texts, seed_model) == [predict(t, seed_model) for t in texts]
    assert predict("", seed_model) == [] and predict(" \n\t", seed_model) == []


def test_long_text_is_chunked_without_losing_entities(seed_model: Path) -> None:
    article = SEEDS[1].text
    long_text = "\n\n".join([article] * 50)  # about 320,000 characters
    assert len(chunk_bounds(long_text)) > 1
    entities = predict(long_text, seed_model)
    single = predict(article, seed_model)
    assert len(entities) == 50 * len(single)
    with pytest.raises(TextTooLongError, match="limit is 1,000"):
        predict(long_text, seed_model, max_chars=1000)


@pytest.mark.parametrize("bad", [None, b"bytes", 42, ["ok", None]])
def test_non_strings_get_a_type_error(seed_model: Path, bad: object) -> None:
    with pytest.raises(TypeError, match="NoneType|bytes|int"):
        predict(bad, seed_model)  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_shipped_model")
def test_no_default_model_says_what_to_do() -> None:
    with pytest.raises(ModelDirError, match="vner train"):
        predict("Huyện ủy Hậu Lộc")


def test_default_model_from_environment(seed_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VNER_MODEL", str(seed_model))
    assert predict(SEEDS[0].text) == predict(SEEDS[0].text, load_model(seed_model))


def test_evaluate_cli_json(seed_model: Path, vner: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [vner, "evaluate", "--model", str(seed_model), "--data", str(BUNDLED_GOLD_FILE), "--json"],
        capture_output=True, text=True, check=True,
    )
    out = json.loads(run.stdout)
    assert set(out) >= {"micro", "macro", "per_label", "partial", "n_docs", "n_gold", "n_pred"}
    assert out["n_docs"] == 5 and out["n_gold"] == sum(len(d.spans) for d in SEEDS)
    assert 0 < out["micro"]["f1"] <= out["partial"]["f1"] <= 1


def test_predict_cli_jsonl(seed_model: Path, vner: str, tmp_path: Path) -> None:
    article = tmp_path / "article.txt"
    article.write_bytes(SEEDS[2].text.replace("\n", "\r\n").encode("utf-8"))
    run = subprocess.run(
        [vner, "predict", str(article), "--model", str(seed_model), "--format", "jsonl"],
        capture_output=True, text=True, check=True,
    )
    record = json.loads(run.stdout)
    raw = article.read_bytes().decode("utf-8")
    assert record["entities"] and all(raw[e["start"]:e["end"]] == e["text"] for e in record["entities"])


def test_numpy_matmul_layers_find_what_blis_layers_find(seed_model: Path) -> None:
    import spacy

    from models.spacy_engine import PIPELINE_DIR

    model = load_model(seed_model)
    tok2vec = model.nlp.get_pipe("tok2vec").model
    assert {node.ops.use_blis for node in tok2vec.walk()} == {False}
    with_blis = spacy.load(seed_model / PIPELINE_DIR)
    assert {node.ops.use_blis for node in with_blis.get_pipe("tok2vec").model.walk()} == {True}
    texts = [doc.text for doc in SEEDS]
    found = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in model.nlp.pipe(texts)]
    expected = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in with_blis.pipe(texts)]
    assert sum(map(len, expected)) > 0 and found == expected
