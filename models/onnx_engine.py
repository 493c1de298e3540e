"""The transformers engine run by onnxruntime: a model directory written by ``vner export-onnx``.

Everything but the forward pass is :class:`~models.hf_engine.HFModel`'s own: the same words,
windows (``max_length``/``stride`` from the source model's ``vner-model.json``), window merge, BIO
decoding and scores. Only :meth:`OnnxModel.window_probabilities` differs: it feeds padded
``input_ids`` + ``attention_mask`` batches to an ``onnxruntime.InferenceSession`` (CPU) instead
of a PyTorch model. Loading reads the tokenizer and config files with ``tokenizers`` and ``json``,
so a process that serves an exported model never imports torch or transformers (about 400 MB less).

Layout of such a directory::

    vner-model.json   the source's, plus "runtime": "onnxruntime", "quantized", "source_model", "onnx"
    README.md         the source's model card with a note about the export
    onnx/model.onnx   input_ids, attention_mask (int64, batch x sequence) -> logits (batch x sequence x tags)
    onnx/config.json  the source's transformers config (id2label: the tags, pad_token_id), tokenizer.json beside it
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from corpus.schema import LabelSchema
from models.base import NerModel
from models.card import ModelDirError
from models.hf_engine import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, HFModel, _threads_from_env

RUNTIME = "onnxruntime"  # vner-model.json "runtime" of an exported directory
ONNX_DIR = "onnx"  # the .onnx file, config and tokenizer inside a model directory
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# windows per session run: one window needs no padding; the fused int8 e5-small model measured
# 4,670 words/s this way on 2 cores (4,510 at 4 windows a run, 4,010 at 8, 3,620 at 32)
ONNX_BATCH_SIZE = 1
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"


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


class OnnxSession:
    """An onnxruntime session with the transformers config beside it (``config.id2label`` gives the tags)."""

    def __init__(self, session: Any, config: Any):
        self.session = session
        self.config = config
        names = {i.name for i in session.get_inputs()}
        missing = set(INPUT_NAMES) - names
        if missing or names - set(INPUT_NAMES):
            raise ModelDirError(f"the ONNX model takes inputs {sorted(names)}, not {list(INPUT_NAMES)}")

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids.astype(np.int64, copy=False),
                "attention_mask": attention_mask.astype(np.int64, copy=False)}
        return self.session.run([OUTPUT_NAME], feed)[0]


class OnnxModel(HFModel):
    """An exported transformers-engine model run with onnxruntime on CPU; otherwise exactly an HFModel."""

    def __init__(self, path: Path, meta: dict[str, Any], schema: LabelSchema, *,
                 threads: int | None = None, batch_size: int = ONNX_BATCH_SIZE):
        NerModel.__init__(self, path, meta, schema)
        onnx_dir = Path(path) / ONNX_DIR
        for needed in (ONNX_FILE, "config.json", TOKENIZER_FILE):
            if not (onnx_dir / needed).is_file():
                raise ModelDirError(f"{path}: no ONNX model in {ONNX_DIR}/ ({needed} missing); "
                                    f"write one with `vner export-onnx`")
        if meta.get("engine") != "transformers":
            raise ModelDirError(f"{path}: an onnxruntime model must come from the transformers engine, "
                                f"not {meta.get('engine')!r}")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        threads = threads or _threads_from_env()
        tokenizer = Tokenizer.from_file(str(onnx_dir / TOKENIZER_FILE))
        config = json.loads((onnx_dir / "config.json").read_text(encoding="utf-8"))
        session = ort.InferenceSession(str(onnx_dir / ONNX_FILE), sess_options=session_options(threads),
                                       providers=["CPUExecutionProvider"])
        settings = meta.get("training", {})
        self._setup(OnnxSession(session, SimpleNamespace(id2label=config["id2label"])), tokenizer,
                    int(settings.get("max_length", DEFAULT_MAX_LENGTH)), int(settings.get("stride", DEFAULT_STRIDE)),
                    threads, batch_size, pad_id=config.get("pad_token_id"))

    @classmethod
    def from_components(cls, *args: Any, **kwargs: Any) -> HFModel:
        raise TypeError("OnnxModel loads from an exported directory only; use HFModel.from_components")

    @contextmanager
    def _inference(self) -> Iterator[None]:
        yield  # onnxruntime keeps its thread count in the session

    def _logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.model.logits(ids, mask)
