"""The transformers engine run by onnxruntime: a model directory written by ``vner export-onnx``.

:class:`~models.hf_engine.HFModel` loads such a directory with an :class:`OnnxRuntime` in place of
PyTorch: the same words, windows (``max_length``/``stride`` from the source model's
``vner-model.json``), window merge, BIO decoding, span head and scores; only the forward pass
feeds padded ``input_ids`` + ``attention_mask`` batches to an ``onnxruntime.InferenceSession``
(CPU). :func:`load_onnx` reads the tokenizer and config files with ``tokenizers`` and ``json``, so
a process that serves an exported model never imports torch or transformers (about 400 MB less).

Layout of such a directory::

    vner-model.json   the source's, plus "runtime": "onnxruntime", "quantized", "source_model", "onnx"
    README.md         the source's model card with a note about the export
    onnx/model.onnx   input_ids, attention_mask (int64, batch x sequence) -> logits (batch x sequence x tags)
                      and, for a model with a span head, hidden (batch x sequence x hidden size)
    onnx/config.json  the source's transformers config (id2label: the tags, pad_token_id), tokenizer.json beside it,
                      and the span head's span_head.npz / span_head.json
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from models.card import ModelDirError, ModelMeta

RUNTIME = "onnxruntime"  # vner-model.json "runtime" of an exported directory
ONNX_DIR = "onnx"  # the .onnx file, config and tokenizer inside a model directory
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# windows per session run: one window needs no padding; the fused int8 e5-small model measured
# 4,670 words/s this way on 2 cores (4,510 at 4 windows a run, 4,010 at 8, 3,620 at 32)
ONNX_BATCH_SIZE = 1
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"
HIDDEN_NAME = "hidden"  # last hidden states, exported when the model has a span head


def session_options(threads: int | None) -> Any:
    """CPU session options: ``threads`` intra-op threads (None: onnxruntime's default), one inter-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return options


class OnnxRuntime:
    """Runs an exported encoder with onnxruntime: ``logits`` and, when the export has it, ``hidden``."""

    name = RUNTIME

    def __init__(self, session: Any, id2label: dict[Any, str]):
        self.session = session
        self.id2label = {int(k): v for k, v in id2label.items()}
        names = {i.name for i in session.get_inputs()}
        if names != set(INPUT_NAMES):
            raise ModelDirError(f"the ONNX model takes inputs {sorted(names)}, not {list(INPUT_NAMES)}")
        self.has_hidden = HIDDEN_NAME in {o.name for o in session.get_outputs()}

    @contextmanager
    def running(self) -> Iterator[None]:
        yield  # onnxruntime keeps its thread count in the session

    def forward(self, ids: np.ndarray, mask: np.ndarray, hidden: bool) -> tuple[np.ndarray, np.ndarray | None]:
        if hidden and not self.has_hidden:
            raise ModelDirError(f"this ONNX model has no {HIDDEN_NAME!r} output for its span head: export it again")
        feed = {"input_ids": ids.astype(np.int64, copy=False), "attention_mask": mask.astype(np.int64, copy=False)}
        outputs = self.session.run([OUTPUT_NAME, HIDDEN_NAME] if hidden else [OUTPUT_NAME], feed)
        return outputs[0], outputs[1] if hidden else None


def load_onnx(path: Path, meta: ModelMeta, threads: int | None) -> tuple[OnnxRuntime, Any, int | None, Path]:
    """The runtime, tokenizer (``tokenizers``), pad id and file directory of an exported model directory."""
    onnx_dir = path / ONNX_DIR
    for needed in (ONNX_FILE, "config.json", TOKENIZER_FILE):
        if not (onnx_dir / needed).is_file():
            raise ModelDirError(f"{path}: no ONNX model in {ONNX_DIR}/ ({needed} missing); "
                                f"write one with `vner export-onnx`")
    if meta.engine != "transformers":
        raise ModelDirError(f"{path}: an onnxruntime model must come from the transformers engine, "
                            f"not {meta.engine!r}")
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(onnx_dir / TOKENIZER_FILE))
    config = json.loads((onnx_dir / "config.json").read_text(encoding="utf-8"))
    session = ort.InferenceSession(str(onnx_dir / ONNX_FILE), sess_options=session_options(threads),
                                   providers=["CPUExecutionProvider"])
    return OnnxRuntime(session, config["id2label"]), tokenizer, config.get("pad_token_id"), onnx_dir
