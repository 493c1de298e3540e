"""The transformers engine end to end with a tiny local BERT: train_model, model dir, load, predict, reload."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tiny_models import build_backbone, check_entities

from corpus.document import Document, Span
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from corpus.scoring import score
from models import load_model, predict
from models.card import read_meta
from models.hf_engine import HF_DIR, HFModel
from models.loading import latest_pointer
from training.run import train_model

SEEDS = read_documents(BUNDLED_GOLD_FILE)
FAST = {"max_length": 64, "stride": 16, "threads": 1, "progress": False, "seed": 0}


def _short_document() -> Document:
    """The first seed's title and first paragraph, with their gold spans."""
    doc = SEEDS[0]
    cut = doc.text.index("\n", doc.text.index("\n\n") + 2)
    return Document(id="short", text=doc.text[:cut], spans=[s for s in doc.spans if s.end <= cut])


SHORT = _short_document()


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_backbone(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def tiny_seed_model(backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few optimizer steps on four seeds (embeddings frozen, the default), scored on the fifth; with the span head."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VNER_HOME", str(home))
        write_documents(home / "train.jsonl", SEEDS[:4])
        write_documents(home / "dev.jsonl", SEEDS[4:])
        threads = torch.get_num_threads()
        train_model("transformers", load_schema(), home / "train.jsonl", home / "dev.jsonl", home / "model",
                    backbone=backbone, epochs=3, max_steps=12, lr=5e-3, batch_size=16, patience=None, span_head=True,
                    **FAST)
        assert torch.get_num_threads() == threads  # threads=1 was for training only
        assert latest_pointer().read_text(encoding="utf-8").strip() == str((home / "model").resolve())
    return home / "model"


@pytest.fixture(scope="module")
def learned_model(backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Many steps on one short text, repeated: the model must learn to tag exactly that text."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VNER_HOME", str(home))
        write_documents(home / "train.jsonl", [replace(SHORT, id=f"short-{i}") for i in range(32)])  # ids unique
        write_documents(home / "dev.jsonl", [SHORT])
        train_model("transformers", load_schema(), home / "train.jsonl", home / "dev.jsonl", home / "model",
                    backbone=backbone, epochs=12, lr=5e-3, freeze_embeddings=False, patience=None, **FAST)
    return home / "model"


def _where(entities: list[dict]) -> list[tuple[int, int, str]]:
    return [(e["start"], e["end"], e["label"]) for e in entities]


def test_model_directory_layout(tiny_seed_model: Path, backbone: Path) -> None:
    meta = read_meta(tiny_seed_model)
    assert meta.engine == "transformers"
    settings = meta.training
    assert settings["backbone"] == str(backbone) and settings["max_length"] == 64 and settings["stride"] == 16
    assert settings["freeze_embeddings"] is True and settings["lr"] == 5e-3 and settings["batch_size"] == 16
    assert settings["steps"] == 12 and settings["epochs_run"] == 2  # max_steps stops inside epoch 2
    assert meta.alignment == "all 267 gold spans align with token boundaries"
    assert set(meta.metrics["dev"]["per_label"]) == set(load_schema().names)
    assert "transformers" in meta.versions
    config = json.loads((tiny_seed_model / HF_DIR / "config.json").read_text(encoding="utf-8"))
    tags = load_schema().bio_tags(span_labels=False)  # TARGET is the span head's
    assert "B-TARGET" not in tags and settings["span_labels"] == ["TARGET"]
    assert (tiny_seed_model / HF_DIR / "span_head.npz").is_file()
    assert load_model(tiny_seed_model).span_head.labels == ["TARGET"]
    assert config["id2label"] == {str(i): tag for i, tag in enumerate(tags)}
    assert config["label2id"] == {tag: i for i, tag in enumerate(tags)}
    assert (tiny_seed_model / HF_DIR / "tokenizer.json").is_file()
    assert (tiny_seed_model / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((tiny_seed_model / "history.json").read_text(encoding="utf-8"))
    assert [row["epoch"] for row in history] == [1, 2] and all(row["train_loss"] > 0 for row in history)
    assert "epoch 2" in (tiny_seed_model / "training.log").read_text(encoding="utf-8")
    assert "Dev scores" in (tiny_seed_model / "README.md").read_text(encoding="utf-8")


def test_windows_with_a_rare_label_are_repeated(tiny_seed_model: Path) -> None:
    from transformers import AutoTokenizer

    from models.hf_engine import WindowEncoder
    from training.bio import document_features
    from training.sampling import DEFAULT_RARE_REPEATS, rare_labels

    assert rare_labels(SEEDS[:4], load_schema().names) == ["TARGET"]  # 8 of 295 spans
    settings = read_meta(tiny_seed_model).training
    assert settings["rare_labels"] == ["TARGET"] and settings["rare_repeats"] == DEFAULT_RARE_REPEATS > 1
    tags = load_schema().bio_tags(span_labels=False)
    encoder = WindowEncoder(AutoTokenizer.from_pretrained(tiny_seed_model / HF_DIR), 64, 16)
    label2id = {t: i for i, t in enumerate(tags)}
    rows = [row for doc in SEEDS[:4] for row in document_features(doc, encoder, label2id, span_labels=["TARGET"])]
    with_target = sum(any(target > 0 for target in row["anchor_targets"]) for row in rows)
    assert with_target > 0
    assert settings["train_windows"] == len(rows) + (DEFAULT_RARE_REPEATS - 1) * with_target


def test_frozen_word_embeddings_stay_as_the_backbone_had_them(tiny_seed_model: Path, backbone: Path) -> None:
    from safetensors.numpy import load_file

    def word_embeddings(path: Path):
        weights = load_file(str(path / "model.safetensors"))
        return next(v for k, v in weights.items() if k.endswith("word_embeddings.weight"))

    before, after = word_embeddings(backbone), word_embeddings(tiny_seed_model / HF_DIR)
    assert (before == after).all()


def test_trained_model_loads_and_predicts_with_exact_offsets(tiny_seed_model: Path, learned_model: Path) -> None:
    model = load_model(tiny_seed_model)
    assert isinstance(model, HFModel) and model.engine == "transformers"
    for doc in SEEDS:
        check_entities(doc.text, predict(doc.text, tiny_seed_model))
    # a model that predicts something: the first seed begins with the text it learned
    found = predict(SEEDS[0].text, learned_model)
    check_entities(SEEDS[0].text, found)
    learned = {(s.start, s.end, s.label) for s in SHORT.spans}
    assert len(learned & set(_where(found))) >= 0.8 * len(learned)


def test_the_model_learns_one_repeated_text(learned_model: Path) -> None:
    config = json.loads((learned_model / HF_DIR / "config.json").read_text(encoding="utf-8"))
    assert "B-TARGET" in config["label2id"] and not (learned_model / HF_DIR / "span_head.npz").exists()  # default
    predicted = [Span(e["start"], e["end"], e["label"]) for e in predict(SHORT.text, learned_model)]
    assert score(load_schema().names, [(SHORT.spans, predicted)]).micro()["f1"] > 0.9
    meta = read_meta(learned_model)
    assert (meta.micro_f1("dev") or 0) > 0.9
    # the dev F1 measured during training is what the saved model scores after reloading
    assert meta.training["best_dev_f1"] == round(meta.micro_f1("dev") or 0, 4)


def test_offsets_refer_to_the_callers_string(learned_model: Path) -> None:
    clean = SHORT.text
    found = predict(clean, learned_model)
    assert len(found) >= len(SHORT.spans) - 1
    # NFD, CRLF and tabs normalize back to the same model input: the same entities, mapped back.
    mangled = unicodedata.normalize("NFD", clean).replace("\n", "\r\n").replace(" ", "\t", 3)
    emoji = "😀 🇻🇳\n" + mangled  # astral characters before everything shift code-point offsets
    for original, entities in ((clean, found), (mangled, predict(mangled, learned_model)),
                               (emoji, predict(emoji, learned_model))):
        check_entities(original, entities)
    nfc = [unicodedata.normalize("NFC", e["text"]).replace("\t", " ") for e in predict(mangled, learned_model)]
    assert nfc == [e["text"] for e in found]


def test_reloaded_model_predicts_the_same(learned_model: Path) -> None:
    meta = read_meta(learned_model)
    fresh = HFModel(learned_model, meta, meta.schema, threads=1, batch_size=3)
    assert fresh is not load_model(learned_model)
    texts = [SHORT.text] + [d.text for d in SEEDS[:2]]
    first, again = predict(texts, learned_model), predict(texts, fresh)
    assert first[0]
    for a_list, b_list in zip(first, again, strict=True):
        assert _where(a_list) == _where(b_list)
        assert [e["score"] for e in a_list] == pytest.approx([e["score"] for e in b_list], abs=1e-5)


def test_batch_equals_one_by_one(learned_model: Path) -> None:
    texts = [SHORT.text, SEEDS[1].text[:700], "", "   \n", SHORT.text.upper()]
    together = predict(texts, learned_model)
    assert together[0] and together[4]  # (an engine that finds nothing would pass the rest)
    for text, batched in zip(texts, together, strict=True):
        alone = predict(text, learned_model)
        assert _where(batched) == _where(alone)
        assert [e["score"] for e in batched] == pytest.approx([e["score"] for e in alone], abs=1e-5)
    assert together[2] == [] and together[3] == []


def test_long_text_is_read_in_windows_without_losing_entities(learned_model: Path) -> None:
    long_text = "\n\n".join([SHORT.text] * 12)
    model = load_model(learned_model)
    assert len(model.encoder.encode(long_text.split())) > 12  # many 64-token windows
    entities = predict(long_text, learned_model)
    check_entities(long_text, entities)
    single = predict(SHORT.text, learned_model)
    assert len(single) >= len(SHORT.spans) - 1
    assert len(entities) >= 0.9 * 12 * len(single)


def test_threads_setting_is_restored(learned_model: Path) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        meta = read_meta(learned_model)
        one = HFModel(learned_model, meta, meta.schema, threads=1)
        assert one.predict_normalized([SHORT.text])[0] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_unknown_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="transformers"):
        train_model("crf", load_schema(), BUNDLED_GOLD_FILE, BUNDLED_GOLD_FILE, tmp_path / "m")
