"""What a model directory says about itself: ``vner-model.json`` (engine, labels, data, metrics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from corpus.schema import LabelSchema

META_FILE = "vner-model.json"


class ModelDirError(UserError, ValueError):
    """A path is not a usable model directory."""


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / META_FILE
    if not path.is_file():
        raise ModelDirError(f"{model_dir} is not a model directory (no {META_FILE}); train one with `vner train`")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelDirError(f"{path}: not valid JSON ({exc})") from exc
    for key in ("engine", "schema"):
        if key not in meta:
            raise ModelDirError(f"{path}: missing '{key}'")
    return meta


def write_meta(model_dir: str | Path, meta: dict[str, Any]) -> Path:
    path = Path(model_dir) / META_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def schema_of(meta: dict[str, Any]) -> LabelSchema:
    return LabelSchema.from_dict(meta["schema"], origin=META_FILE)
