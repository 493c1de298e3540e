"""``vner export-onnx`` and the onnxruntime engine with a tiny local BERT: same windows, entities and scores."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from tiny_models import build_backbone, check_entities
from typer.testing import CliRunner

from corpus.document import Span
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from corpus.scoring import score
from models import load_model, predict
from models.card import META_FILE, ModelDirError, read_meta, write_meta
from models.cli import register
from models.hf_engine import HF_DIR, HFModel
from models.onnx_engine import ONNX_DIR, ONNX_FILE, OnnxRuntime
from models.onnx_export import ExportError, export_onnx
from training.run import train_model

SEEDS = read_documents(BUNDLED_GOLD_FILE)
TEXTS = [doc.text for doc in SEEDS]
FAST = {"max_length": 64, "stride": 16, "threads": 1, "progress": False, "seed": 0}
# int8 against fp32 PyTorch on the seeds, strict-span F1 of one against the other: 0.985 measured
# (414 entities from PyTorch, 408 from int8); quantization noise moves a few low-margin words.
INT8_AGREEMENT_FLOOR = 0.9


def vner(*args: str | Path):
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight epochs on four seeds, embeddings trained too: enough for the model to tag hundreds of spans."""
    home = tmp_path_factory.mktemp("onnx-home")
    backbone = build_backbone(home / "backbone")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VNER_HOME", str(home))
        write_documents(home / "train.jsonl", SEEDS[:4])
        write_documents(home / "dev.jsonl", SEEDS[4:])
        train_model("transformers", load_schema(), home / "train.jsonl", home / "dev.jsonl", home / "model",
                    backbone=backbone, epochs=8, lr=5e-3, freeze_embeddings=False, patience=None, **FAST)
    return home / "model"


@pytest.fixture(scope="module")
def pytorch_results(trained: Path) -> list[list[dict]]:
    results = predict(TEXTS, trained)
    assert sum(map(len, results)) > 100  # the comparison below means something
    return results


@pytest.fixture(scope="module")
def fp32(trained: Path) -> Path:
    export_onnx(trained)
    return trained.with_name(trained.name + "-onnx")


@pytest.fixture(scope="module")
def int8(trained: Path) -> Path:
    """Exported through the command line."""
    out = trained.parent / "int8"
    result = vner("export-onnx", trained, "--quantize", "--out", out)
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "int8" in result.output
    return out


def _spans(entities: list[dict]) -> list[Span]:
    return [Span(e["start"], e["end"], e["label"]) for e in entities]


def test_export_writes_a_model_directory_for_onnxruntime(trained: Path, fp32: Path) -> None:
    source, meta = read_meta(trained), read_meta(fp32)
    assert meta.engine == "transformers" and meta.runtime == "onnxruntime" and meta.quantized is False
    assert meta.source_model == str(trained.resolve()) and meta.onnx is not None
    assert meta.schema == source.schema and meta.training == source.training
    assert meta.metrics == source.metrics and meta.onnx["check_max_abs_logit_diff"] < 1e-4
    assert meta.onnx["fused_operators"]["Attention"] == 2  # one per layer of the tiny BERT
    assert meta.onnx["calibration"] is None
    files = {p.name for p in (fp32 / ONNX_DIR).iterdir()}
    assert {ONNX_FILE, "config.json", "tokenizer.json", "tokenizer_config.json"} <= files
    assert not any(name.endswith(".safetensors") for name in files)
    config = json.loads((fp32 / ONNX_DIR / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == json.loads((trained / HF_DIR / "config.json").read_text(encoding="utf-8"))["id2label"]
    card = (fp32 / "README.md").read_text(encoding="utf-8")
    assert card.startswith((trained / "README.md").read_text(encoding="utf-8").rstrip("\n"))
    assert "## ONNX export" in card and "onnxruntime" in card
    assert not [p for p in trained.parent.iterdir() if p.name.startswith(".")]  # no staging left behind

    model = load_model(fp32)
    assert isinstance(model, HFModel) and isinstance(model.runner, OnnxRuntime) and model.engine == "transformers"
    torch_model = load_model(trained)
    assert (model.encoder.max_length, model.encoder.stride) == (torch_model.encoder.max_length, 16)
    assert model.tags == torch_model.tags


def test_fp32_export_predicts_what_pytorch_predicts(fp32: Path, pytorch_results: list[list[dict]]) -> None:
    got = predict(TEXTS, fp32)
    for text, expected, found in zip(TEXTS, pytorch_results, got, strict=True):
        check_entities(text, found)
        assert [(e["start"], e["end"], e["label"]) for e in found] == \
            [(e["start"], e["end"], e["label"]) for e in expected]
        assert [e["score"] for e in found] == pytest.approx([e["score"] for e in expected], abs=1e-4)


def test_int8_export_is_valid_and_mostly_agrees(int8: Path, fp32: Path, pytorch_results: list[list[dict]]) -> None:
    meta = read_meta(int8)
    assert meta.quantized is True and meta.runtime == "onnxruntime" and meta.onnx is not None
    assert (int8 / ONNX_DIR / ONNX_FILE).stat().st_size < (fp32 / ONNX_DIR / ONNX_FILE).stat().st_size
    assert "int8" in (int8 / "README.md").read_text(encoding="utf-8")
    calibration = meta.onnx["calibration"]
    assert calibration["file"] == str(BUNDLED_GOLD_FILE) and calibration["windows"] > len(SEEDS)
    # 2 layers x (attention input, attention output, FFN in, FFN out) + the classifier
    assert calibration["smoothed_nodes"] == 9 and calibration["word_tag_agreement"] >= INT8_AGREEMENT_FLOOR
    got = predict(TEXTS, int8)
    for text, found in zip(TEXTS, got, strict=True):
        check_entities(text, found)
    pairs = [(_spans(expected), _spans(found)) for expected, found in zip(pytorch_results, got, strict=True)]
    assert score(load_schema().names, pairs).micro()["f1"] >= INT8_AGREEMENT_FLOOR


def test_int8_export_needs_calibration_text(trained: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    write_documents(empty, [])
    with pytest.raises(ExportError, match="calibration texts hold no words"):
        export_onnx(trained, tmp_path / "int8", quantize=True, calibration=empty)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    result = vner("export-onnx", trained, "--quantize", "--out", tmp_path / "int8", "--calibration", broken)
    assert result.exit_code == 1 and "broken.jsonl" in result.output
    assert not (tmp_path / "int8").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_exported_model_runs_without_torch(fp32: Path) -> None:
    code = ("import sys; from models import predict; "
            f"found = predict({TEXTS[0][:400]!r}, {str(fp32)!r}); "
            "print(len(found), 'torch' in sys.modules, 'transformers' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.split()[1:] == ["False", "False"]


def test_threads_and_batch_size_are_honoured(fp32: Path, pytorch_results: list[list[dict]]) -> None:
    meta = read_meta(fp32)
    model = HFModel(fp32, meta, meta.schema, threads=1, batch_size=3)
    assert model.runner.session.get_session_options().intra_op_num_threads == 1 and model.batch_size == 3
    assert [(e["start"], e["end"]) for e in predict(TEXTS[0], model)] == \
        [(e["start"], e["end"]) for e in pytorch_results[0]]


def test_non_transformers_models_and_exports_are_refused(trained: Path, fp32: Path, tmp_path: Path) -> None:
    spacy_dir = tmp_path / "spacy-model"
    write_meta(spacy_dir, replace(read_meta(trained), engine="spacy"))
    with pytest.raises(ExportError, match="'spacy' model: only transformers-engine models"):
        export_onnx(spacy_dir)
    result = vner("export-onnx", spacy_dir)
    assert result.exit_code == 1 and "only transformers-engine models" in result.output
    assert not (tmp_path / "spacy-model-onnx").exists()
    with pytest.raises(ExportError, match="already an ONNX export"):
        export_onnx(fp32, tmp_path / "again")
    with pytest.raises(ExportError, match="already exists"):
        export_onnx(trained, fp32)
    with pytest.raises(ModelDirError, match=META_FILE):
        export_onnx(tmp_path)


def test_bench_runs_on_an_onnx_directory(fp32: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "models.bench", str(fp32), "--repeats", "1"],
                         capture_output=True, text=True, timeout=120, check=True)
    row = json.loads(run.stdout.strip().splitlines()[-1])
    assert row["runtime"] == "onnxruntime" and row["engine"] == "transformers"
    assert row["words_per_second"] > 0 and row["corpus_words"] > 0
