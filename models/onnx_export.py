"""``vner export-onnx``: a transformers-engine model directory as an ONNX model directory for onnxruntime.

The token-classification model in ``<model dir>/hf`` is exported with PyTorch's TorchScript-based
exporter (``dynamo=False``: the dynamo exporter needs ``onnxscript``) with dynamic batch and
sequence axes: ``input_ids`` + ``attention_mask`` -> ``logits``, using the eager attention code so
that onnxruntime's transformer optimizer can fuse each layer's attention, layer norms and GELU into
single operators (BERT-like encoders only). The result is checked against the PyTorch model on a
padded batch of another shape than the one traced; a fusion that changes the logits is dropped.

With ``quantize`` the fp32 graph is first smoothed (:mod:`models.onnx_smoothing`, calibrated on
the windows of a few articles), then its weights are dynamically quantized to int8
(``onnxruntime.quantization.quantize_dynamic``, QInt8, per channel): a smaller file and faster
CPU inference, at the price of a few changed predictions, counted in the exported model's card.

The new directory (see :mod:`models.onnx_engine` for its layout) is written next to the source
and swapped into place only when complete; ``load_model`` runs it with :class:`~models.onnx_engine.OnnxRuntime`.
"""

from __future__ import annotations

import logging
import math
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from corpus.files import staged_dir
from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.text import normalize, split_words
from models.card import META_FILE, ModelDirError, ModelMeta, read_meta, write_meta
from models.hf_engine import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_STRIDE,
    ENGINE,
    HF_DIR,
    Window,
    WindowEncoder,
    padded_batches,
)
from models.onnx_engine import HIDDEN_NAME, INPUT_NAMES, ONNX_DIR, ONNX_FILE, OUTPUT_NAME, RUNTIME, session_options
from models.onnx_smoothing import DEFAULT_ALPHA, input_maxima, smooth, smoothable_nodes
from models.span_head import SPAN_HEAD_FILE

DEFAULT_OPSET = 17  # LayerNormalization is one op from 17 on; onnxruntime 1.2x runs up to opset 21+
CARD_FILE = "README.md"
FP32_TOLERANCE = 1e-3  # largest logit difference accepted between PyTorch and the fp32 export
CALIBRATION_WINDOWS = 64  # windows of the calibration texts that set the smoothing scales
FUSED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert")  # onnxruntime's "bert" fusions fit these
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt", ".onnx")


class ExportError(ModelDirError):
    """The model directory cannot be exported (wrong engine, already exported, bad output)."""


def default_out_dir(model_dir: str | Path, quantize: bool) -> Path:
    model_dir = Path(model_dir)
    return model_dir.with_name(model_dir.name + ("-onnx-int8" if quantize else "-onnx"))


def check_exportable(model_dir: str | Path) -> ModelMeta:
    """The source's meta, or an :class:`ExportError` saying why it cannot be exported."""
    meta = read_meta(model_dir)
    if meta.runtime == RUNTIME:
        raise ExportError(f"{model_dir} is already an ONNX export (of {meta.source_model or '?'}); "
                          f"export the transformers model directory instead")
    if meta.engine != ENGINE:
        raise ExportError(f"{model_dir} is a {meta.engine!r} model: only transformers-engine models "
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


def _outputs(hidden: bool) -> list[str]:
    return [OUTPUT_NAME, HIDDEN_NAME] if hidden else [OUTPUT_NAME]


def _with_hidden(model: Any) -> Any:
    """``model`` returning (logits, last hidden states): what a span head reads."""
    import torch

    class WithHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            return out.logits, out.hidden_states[-1]

    return WithHidden().eval()


def _export(model: Any, path: Path, opset: int, vocab_size: int, pad_id: int, hidden: bool) -> None:
    import torch

    ids, mask = _example_inputs(vocab_size, pad_id, batch=2, length=8, seed=0)
    axes = {0: "batch", 1: "sequence"}
    outputs = _outputs(hidden)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            _with_hidden(model) if hidden else model, (ids, mask), str(path), input_names=list(INPUT_NAMES),
            output_names=outputs, dynamic_axes={name: axes for name in (*INPUT_NAMES, *outputs)},
            opset_version=opset, do_constant_folding=True, dynamo=False,
        )


def _check(model: Any, path: Path, vocab_size: int, pad_id: int, hidden: bool) -> float:
    """Largest |difference| of logits (and hidden states) between PyTorch and the ONNX file on a batch
    shaped unlike the traced one."""
    import onnxruntime as ort
    import torch

    ids, mask = _example_inputs(vocab_size, pad_id, batch=3, length=13, seed=1)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=hidden)
    expected = [out.logits.float().numpy()] + ([out.hidden_states[-1].float().numpy()] if hidden else [])
    session = ort.InferenceSession(str(path), sess_options=session_options(None), providers=["CPUExecutionProvider"])
    got = session.run(_outputs(hidden), {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    real = mask.numpy().astype(bool)
    worst = 0.0
    for name, mine, theirs in zip(_outputs(hidden), got, expected, strict=True):
        if mine.shape != theirs.shape:
            raise ExportError(f"the ONNX model returns {name} of shape {mine.shape}, PyTorch {theirs.shape}")
        worst = max(worst, float(np.abs(mine - theirs)[real].max()))
    return worst


def _fuse(src: Path, dst: Path, config: Any) -> dict[str, int]:
    """onnxruntime's transformer fusions of ``src`` into ``dst``: fused operator counts ({} if not applicable)."""
    if config.model_type not in FUSED_MODEL_TYPES:
        return {}
    from onnxruntime.transformers.optimizer import optimize_model

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    optimized = optimize_model(str(src), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size)
    optimized.save_model_to_file(str(dst))
    return {op: count for op, count in optimized.get_fused_operator_statistics().items() if count}


def calibration_windows(tokenizer: Any, texts: list[str], max_length: int, stride: int,
                        limit: int = CALIBRATION_WINDOWS) -> list[Window]:
    """The first ``limit`` model windows of ``texts``, cut as the transformers engine cuts them."""
    encoder = WindowEncoder(tokenizer, max_length, stride)
    words = []
    for text in texts:
        text = normalize(text)[0]
        words.append([text[a:b] for a, b in split_words(text)])
    windows = [w for doc in encoder.encode_batch(words) for w in doc][:limit]
    if not windows:
        raise ExportError("the calibration texts hold no words: int8 export needs some articles to calibrate on")
    return windows


def _feeds(windows: list[Window], pad_id: int) -> Iterator[tuple[Window, dict[str, np.ndarray]]]:
    """Each window with its model inputs, one window a run (so no padding)."""
    for (i,), ids, mask in padded_batches(windows, 1, pad_id):
        yield windows[i], {"input_ids": ids, "attention_mask": mask}


def word_tag_agreement(fp32: Path, int8: Path, windows: list[Window], pad_id: int) -> float:
    """Share of the words in ``windows`` whose most probable tag is the same in both ONNX models."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(p), sess_options=session_options(None), providers=["CPUExecutionProvider"])
                for p in (fp32, int8)]
    same = total = 0
    for window, feed in _feeds(windows, pad_id):
        positions = [position for position, _ in window.first]
        a, b = (s.run([OUTPUT_NAME], feed)[0][0, positions].argmax(-1) for s in sessions)
        same += int((a == b).sum())
        total += len(positions)
    return same / total


def _quiet_preprocessing_hint(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


def _quantize(fp32: Path, int8: Path, windows: list[Window], pad_id: int) -> int:
    """Smooth ``fp32`` on ``windows`` and quantize it into ``int8``; returns the number of smoothed nodes."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(fp32))
    names = sorted({n.input[0] for n in smoothable_nodes(model)})
    maxima = input_maxima(model, names, (feed for _, feed in _feeds(windows, pad_id)))
    smoothed = smooth(model, maxima, DEFAULT_ALPHA)
    smoothed_path = int8.with_name("smoothed.onnx")
    onnx.save(model, str(smoothed_path))
    del model
    root = logging.getLogger()
    root.addFilter(_quiet_preprocessing_hint)  # a hint for static (calibrated) quantization
    try:
        # per-channel weight scales; contrib operators (fused Attention) have no inferred types: float32
        quantize_dynamic(smoothed_path, int8, weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.removeFilter(_quiet_preprocessing_hint)
        smoothed_path.unlink(missing_ok=True)
    return smoothed


def _copy_hf_files(hf_dir: Path, onnx_dir: Path) -> None:
    """Config and tokenizer files of ``hf/`` (everything but weights) into ``onnx/``."""
    for item in sorted(hf_dir.iterdir()):
        if item.is_file() and not item.name.endswith(_WEIGHT_SUFFIXES) and not item.name.endswith(".index.json"):
            shutil.copy2(item, onnx_dir / item.name)


def _card(source: Path, meta: ModelMeta) -> str:
    card_path = source / CARD_FILE
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else f"# vner model: {meta.engine}\n"
    onnx = meta.onnx or {}
    fused = ", ".join(f"{count} {op}" for op, count in onnx["fused_operators"].items()) or "none"
    if meta.quantized:
        calibration = onnx["calibration"]
        weights = (f"smoothed (alpha {calibration['alpha']}, {calibration['windows']} windows of "
                   f"`{calibration['file']}`) and dynamically quantized to int8 (QInt8, per channel)")
        agreement = (f"Quantization changes the logits (largest difference {onnx['check_max_abs_logit_diff']:.3g} "
                     f"on a check batch); on the calibration windows {calibration['word_tag_agreement']:.2%} of "
                     f"the words keep the fp32 model's tag. The scores above were measured with the PyTorch "
                     f"model: re-score this directory with `vner evaluate --model DIR`.")
    else:
        weights = "float32 weights"
        agreement = (f"It computes the same logits as the PyTorch model (largest difference "
                     f"{onnx['check_max_abs_logit_diff']:.2g} on a check batch), so the scores above hold.")
    return "\n".join([
        card.rstrip("\n"),
        "",
        "## ONNX export",
        "",
        f"Exported {onnx['exported']} by `vner export-onnx` from `{meta.source_model}`: "
        f"`{ONNX_DIR}/{ONNX_FILE}` (opset {onnx['opset']}, fused operators: {fused}; {weights}), run with "
        f"onnxruntime on CPU (`load_model` reads `\"runtime\": \"{RUNTIME}\"` in {META_FILE}). Windows, merging "
        f"and decoding are those of the transformers engine. {agreement}",
        "",
    ])


def export_onnx(model_dir: str | Path, out_dir: str | Path | None = None, *, quantize: bool = False,
                opset: int = DEFAULT_OPSET, force: bool = False,
                calibration: str | Path = BUNDLED_GOLD_FILE) -> ModelMeta:
    """Export ``model_dir`` (transformers engine) to a new ONNX model directory; returns the new meta.

    ``out_dir`` defaults to ``model_dir`` + ``-onnx`` (``-onnx-int8`` with ``quantize``). An existing
    ``out_dir`` is replaced only with ``force``. ``calibration`` (a JSON Lines file of documents,
    default: the bundled seed articles) sets the int8 smoothing scales; use unannotated articles of
    the genre, never the evaluation set.
    """
    import onnx
    import onnxruntime
    import torch
    import transformers
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = Path(model_dir)
    meta = check_exportable(source)
    out = Path(out_dir) if out_dir is not None else default_out_dir(source, quantize)
    if out.resolve() == source.resolve():
        raise ExportError("--out must be a new directory, not the source model directory")
    if out.exists() and not force:
        raise ExportError(f"{out} already exists; choose another --out or pass --force to replace it")
    texts = [doc.text for doc in read_documents(calibration)] if quantize else []

    hf_dir = source / HF_DIR
    hf_logging.disable_progress_bar()
    model = AutoModelForTokenClassification.from_pretrained(hf_dir, attn_implementation="eager").eval()
    config = model.config
    pad_id = config.pad_token_id if config.pad_token_id is not None else 0
    hidden = (hf_dir / SPAN_HEAD_FILE).is_file()  # the span head reads the last hidden states
    with staged_dir(out) as staging:
        onnx_dir = staging / ONNX_DIR
        onnx_dir.mkdir()
        target = onnx_dir / ONNX_FILE
        plain, fp32 = staging / "plain.onnx", staging / "fp32.onnx"
        _export(model, plain, opset, config.vocab_size, pad_id, hidden)
        onnx.checker.check_model(str(plain))
        fused = _fuse(plain, fp32, config)
        fp32_diff = _check(model, fp32, config.vocab_size, pad_id, hidden) if fused else math.inf
        if fp32_diff > FP32_TOLERANCE:  # not fused, or the fusions changed the logits: the plain graph
            if fused:
                logging.getLogger(__name__).warning("onnxruntime's fusions changed the logits; exporting unfused")
                fused = {}
            plain.replace(fp32)
            fp32_diff = _check(model, fp32, config.vocab_size, pad_id, hidden)
        else:
            plain.unlink()
        if fp32_diff > FP32_TOLERANCE:
            raise ExportError(f"the ONNX export differs from the PyTorch model by {fp32_diff:.3g} in the logits")
        calibrated = None
        if quantize:
            settings = meta.training
            windows = calibration_windows(AutoTokenizer.from_pretrained(hf_dir), texts,
                                          int(settings.get("max_length", DEFAULT_MAX_LENGTH)),
                                          int(settings.get("stride", DEFAULT_STRIDE)))
            smoothed = _quantize(fp32, target, windows, pad_id)
            calibrated = {"file": str(calibration), "windows": len(windows), "alpha": DEFAULT_ALPHA,
                          "smoothed_nodes": smoothed,
                          "word_tag_agreement": round(word_tag_agreement(fp32, target, windows, pad_id), 4)}
            fp32.unlink()
        else:
            fp32.replace(target)
        diff = _check(model, target, config.vocab_size, pad_id, hidden) if quantize else fp32_diff
        _copy_hf_files(hf_dir, onnx_dir)
        new_meta = replace(
            meta,
            runtime=RUNTIME,
            quantized=quantize,
            source_model=str(source.resolve()),
            onnx={
                "file": f"{ONNX_DIR}/{ONNX_FILE}",
                "opset": opset,
                "inputs": list(INPUT_NAMES),
                "outputs": _outputs(hidden),
                "fused_operators": fused,
                "quantization": "dynamic int8 (QInt8 weights, per channel), smoothed" if quantize else None,
                "calibration": calibrated,
                "size_mb": round(target.stat().st_size / 2**20, 1),
                "check_max_abs_logit_diff": float(f"{diff:.3g}"),
                "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                             "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
            },
        )
        write_meta(staging, new_meta)
        (staging / CARD_FILE).write_text(_card(source, new_meta), encoding="utf-8")
    return new_meta
