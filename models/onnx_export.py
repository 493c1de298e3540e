"""``vner export-onnx``: a transformers-engine model directory as an ONNX model directory for onnxruntime.

The token-classification model in ``<model dir>/hf`` is exported with PyTorch's TorchScript-based
exporter (``dynamo=False``: the dynamo exporter needs ``onnxscript``) with dynamic batch and
sequence axes: ``input_ids`` + ``attention_mask`` -> ``logits``. The export is checked against the
PyTorch model on a padded batch of another shape than the one traced. With ``quantize`` the
weights are then dynamically quantized to int8 (``onnxruntime.quantization.quantize_dynamic``,
QInt8): a smaller file and usually faster CPU inference, at the price of a few changed predictions.

The new directory (see :mod:`models.onnx_engine` for its layout) is written next to the source
and swapped into place only when complete; ``load_model`` runs it with :class:`OnnxModel`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from models.card import META_FILE, ModelDirError, read_meta, write_meta
from models.hf_engine import ENGINE, HF_DIR
from models.onnx_engine import INPUT_NAMES, ONNX_DIR, ONNX_FILE, OUTPUT_NAME, RUNTIME, session_options

DEFAULT_OPSET = 17  # LayerNormalization is one op from 17 on; onnxruntime 1.2x runs up to opset 21+
CARD_FILE = "README.md"
FP32_TOLERANCE = 1e-3  # largest logit difference accepted between PyTorch and the fp32 export
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt", ".onnx")


class ExportError(ModelDirError):
    """The model directory cannot be exported (wrong engine, already exported, bad output)."""


def default_out_dir(model_dir: str | Path, quantize: bool) -> Path:
    model_dir = Path(model_dir)
    return model_dir.with_name(model_dir.name + ("-onnx-int8" if quantize else "-onnx"))


def check_exportable(model_dir: str | Path) -> dict[str, Any]:
    """The source's meta, or an :class:`ExportError` saying why it cannot be exported."""
    meta = read_meta(model_dir)
    if meta.get("runtime") == RUNTIME:
        raise ExportError(f"{model_dir} is already an ONNX export (of {meta.get('source_model', '?')}); "
                          f"export the transformers model directory instead")
    if meta["engine"] != ENGINE:
        raise ExportError(f"{model_dir} is a {meta['engine']!r} model: only transformers-engine models "
                          f"(trained with `vner train --engine transformers`) can be exported to ONNX")
    if not (Path(model_dir) / HF_DIR / "config.json").is_file():
        raise ExportError(f"{model_dir}: no transformers model in {HF_DIR}/ (config.json missing)")
    return meta


def _example_inputs(vocab_size: int, pad_id: int, batch: int, length: int, seed: int) -> tuple[Any, Any]:
    """Random ids with the last row half padding, so the traced graph applies the attention mask."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab_size, (batch, length), generator=generator, dtype=torch.long)
    mask = torch.ones((batch, length), dtype=torch.long)
    mask[-1, length // 2:] = 0
    ids[-1, length // 2:] = pad_id
    return ids, mask


def _export(model: Any, path: Path, opset: int, vocab_size: int, pad_id: int) -> None:
    import torch

    ids, mask = _example_inputs(vocab_size, pad_id, batch=2, length=8, seed=0)
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            model, (ids, mask), str(path), input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
            dynamic_axes={name: axes for name in (*INPUT_NAMES, OUTPUT_NAME)}, opset_version=opset,
            do_constant_folding=True, dynamo=False,
        )


def _check(model: Any, path: Path, vocab_size: int, pad_id: int) -> float:
    """Largest |logit difference| between PyTorch and the ONNX file on a batch shaped unlike the traced one."""
    import onnxruntime as ort
    import torch

    ids, mask = _example_inputs(vocab_size, pad_id, batch=3, length=13, seed=1)
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).logits.float().numpy()
    session = ort.InferenceSession(str(path), sess_options=session_options(None), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    if got.shape != expected.shape:
        raise ExportError(f"the ONNX model returns logits of shape {got.shape}, PyTorch {expected.shape}")
    real = mask.numpy().astype(bool)
    return float(np.abs(got - expected)[real].max())


def _quiet_preprocessing_hint(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


def _quantize(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    root.addFilter(_quiet_preprocessing_hint)  # a hint for static (calibrated) quantization
    try:
        # per-channel weight scales: on the 4-epoch e5-small model, dev F1 -0.9 points instead of -1.4
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.removeFilter(_quiet_preprocessing_hint)


def _copy_hf_files(hf_dir: Path, onnx_dir: Path) -> None:
    """Config and tokenizer files of ``hf/`` (everything but weights) into ``onnx/``."""
    for item in sorted(hf_dir.iterdir()):
        if item.is_file() and not item.name.endswith(_WEIGHT_SUFFIXES) and not item.name.endswith(".index.json"):
            shutil.copy2(item, onnx_dir / item.name)


def _card(source: Path, meta: dict[str, Any]) -> str:
    card_path = source / CARD_FILE
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else f"# vner model: {meta['engine']}\n"
    onnx = meta["onnx"]
    weights = "weights dynamically quantized to int8 (QInt8, per channel)" if meta["quantized"] else "float32 weights"
    if meta["quantized"]:
        agreement = (f"Quantization changes the logits (largest difference {onnx['check_max_abs_logit_diff']:.3g} "
                     f"on a check batch) and can change some predictions: the scores above were measured with "
                     f"the PyTorch model, re-score this directory with `vner evaluate --model DIR`.")
    else:
        agreement = (f"It computes the same logits as the PyTorch model (largest difference "
                     f"{onnx['check_max_abs_logit_diff']:.2g} on a check batch), so the scores above hold.")
    return "\n".join([
        card.rstrip("\n"),
        "",
        "## ONNX export",
        "",
        f"Exported {onnx['exported']} by `vner export-onnx` from `{meta['source_model']}`: "
        f"`{ONNX_DIR}/{ONNX_FILE}` (opset {onnx['opset']}, {weights}), run with onnxruntime on CPU "
        f"(`load_model` reads `\"runtime\": \"{RUNTIME}\"` in {META_FILE}). Windows, merging and decoding are "
        f"those of the transformers engine. {agreement}",
        "",
    ])


def export_onnx(model_dir: str | Path, out_dir: str | Path | None = None, *, quantize: bool = False,
                opset: int = DEFAULT_OPSET, force: bool = False) -> dict[str, Any]:
    """Export ``model_dir`` (transformers engine) to a new ONNX model directory; returns the new meta.

    ``out_dir`` defaults to ``model_dir`` + ``-onnx`` (``-onnx-int8`` with ``quantize``). An existing
    ``out_dir`` is replaced only with ``force``.
    """
    import onnx
    import onnxruntime
    import torch
    import transformers
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    source = Path(model_dir)
    meta = check_exportable(source)
    out = Path(out_dir) if out_dir is not None else default_out_dir(source, quantize)
    if out.resolve() == source.resolve():
        raise ExportError("--out must be a new directory, not the source model directory")
    if out.exists() and not force:
        raise ExportError(f"{out} already exists; choose another --out or pass --force to replace it")

    hf_dir = source / HF_DIR
    hf_logging.disable_progress_bar()
    model = AutoModelForTokenClassification.from_pretrained(hf_dir).eval()
    config = model.config
    pad_id = config.pad_token_id if config.pad_token_id is not None else 0
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)
    try:
        onnx_dir = staging / ONNX_DIR
        onnx_dir.mkdir()
        target = onnx_dir / ONNX_FILE
        fp32 = staging / "fp32.onnx" if quantize else target
        _export(model, fp32, opset, config.vocab_size, pad_id)
        onnx.checker.check_model(str(fp32))
        fp32_diff = _check(model, fp32, config.vocab_size, pad_id)
        if fp32_diff > FP32_TOLERANCE:
            raise ExportError(f"the ONNX export differs from the PyTorch model by {fp32_diff:.3g} in the logits")
        if quantize:
            _quantize(fp32, target)
            fp32.unlink()
        diff = _check(model, target, config.vocab_size, pad_id) if quantize else fp32_diff
        _copy_hf_files(hf_dir, onnx_dir)
        new_meta = {
            **meta,
            "runtime": RUNTIME,
            "quantized": quantize,
            "source_model": str(source.resolve()),
            "onnx": {
                "file": f"{ONNX_DIR}/{ONNX_FILE}",
                "opset": opset,
                "inputs": list(INPUT_NAMES),
                "output": OUTPUT_NAME,
                "quantization": "dynamic int8 (QInt8 weights, per channel)" if quantize else None,
                "size_mb": round(target.stat().st_size / 2**20, 1),
                "check_max_abs_logit_diff": float(f"{diff:.3g}"),
                "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                             "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
            },
        }
        write_meta(staging, new_meta)
        (staging / CARD_FILE).write_text(_card(source, new_meta), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return new_meta
