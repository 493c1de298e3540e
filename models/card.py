"""What a model directory says about itself: ``vner-model.json`` read and written as a :class:`ModelMeta`.

This module is the only one that reads or writes the file. ``format_version`` says which shape it has;
a file without one is version 1 (written before the field existed), and a newer version than
:data:`META_VERSION` is refused with the file's name rather than read wrongly. Keys this version
does not know are kept in :attr:`ModelMeta.extra` and written back unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from corpus.schema import LabelSchema, SchemaError

META_FILE = "vner-model.json"
META_VERSION = 1  # the format_version this code reads and writes


class ModelDirError(UserError, ValueError):
    """A path is not a usable model directory."""


_MISSING = object()
_JSON_NAMES = {str: "string", dict: "JSON object", bool: "boolean"}


def _checked(data: dict[str, Any], origin: str, key: str, kind: type, default: Any = _MISSING) -> Any:
    """``data[key]`` if it is a ``kind``; ``default`` when absent or null; else a :class:`ModelDirError`."""
    value = data.get(key)
    if value is None and default is not _MISSING:
        return default
    if not isinstance(value, kind):
        raise ModelDirError(f"{origin}: '{key}' must be a {_JSON_NAMES[kind]}, not {json.dumps(value)[:60]}")
    return value


@dataclass(frozen=True)
class DataFile:
    """A gold file a model was trained or scored on: its path, content hash and size."""

    path: str
    sha256: str
    documents: int
    entities: int


@dataclass(frozen=True)
class ModelMeta:
    """The contents of ``vner-model.json``.

    ``metrics`` holds, per data split (``"dev"``), the :meth:`corpus.scoring.Scores.to_dict` of the
    model's predictions; ``training`` the trainer's resolved options (they differ by engine);
    ``runtime``, ``quantized``, ``source_model`` and ``onnx`` are set on ``vner export-onnx`` output.
    """

    engine: str
    schema: LabelSchema
    created: str | None = None  # ISO 8601
    data: dict[str, DataFile] = field(default_factory=dict)  # by split: "train", "dev", ...
    alignment: str | None = None  # how the gold spans met the engine's tokens
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # library versions at training time
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str | None = None  # shown on the model card
    runtime: str | None = None  # what executes the model when not the engine's own library ("onnxruntime")
    quantized: bool | None = None
    source_model: str | None = None
    onnx: dict[str, Any] | None = None  # the export's settings and checks
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = META_VERSION

    def micro_f1(self, split: str = "dev") -> float | None:
        """The recorded strict micro F1 on ``split``, if any."""
        f1 = (self.metrics.get(split) or {}).get("micro", {}).get("f1")
        return None if f1 is None else float(f1)

    def per_label_f1(self, split: str = "dev") -> dict[str, float]:
        """The recorded strict F1 of each label on ``split`` (empty if none)."""
        per_label = (self.metrics.get(split) or {}).get("per_label") or {}
        return {label: float(row["f1"]) for label, row in per_label.items() if "f1" in row}

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``vner-model.json`` (fields without a value are left out)."""
        out: dict[str, Any] = {
            "format_version": self.format_version,
            "engine": self.engine,
            "schema": self.schema.to_dict(),
        }
        optional = {
            "created": self.created,
            "data": {name: vars(part) for name, part in self.data.items()},
            "alignment": self.alignment,
            "training": self.training,
            "versions": self.versions,
            "metrics": self.metrics,
            "note": self.note,
            "runtime": self.runtime,
            "quantized": self.quantized,
            "source_model": self.source_model,
            "onnx": self.onnx,
        }
        out |= {key: value for key, value in optional.items() if value is not None and value != {}}
        return out | self.extra

    @classmethod
    def from_dict(cls, data: Any, origin: str = META_FILE) -> ModelMeta:
        """A meta from the JSON object ``data``, or a :class:`ModelDirError` naming ``origin`` and the problem."""
        if not isinstance(data, dict):
            raise ModelDirError(f"{origin}: expected a JSON object, not {type(data).__name__}")
        version = data.get("format_version", 1)
        if type(version) is not int or not 1 <= version <= META_VERSION:
            raise ModelDirError(
                f"{origin}: unknown format_version {version!r} (this vner reads 1 to {META_VERSION}; "
                f"upgrade vner if a newer one wrote it)"
            )
        for key in ("engine", "schema"):
            if key not in data:
                raise ModelDirError(f"{origin}: missing '{key}'")

        def get(key: str, kind: type, default: Any = _MISSING) -> Any:
            return _checked(data, origin, key, kind, default)

        try:
            schema = LabelSchema.from_dict(get("schema", dict), origin=f"{origin}: schema")
        except SchemaError as exc:
            raise ModelDirError(str(exc)) from exc
        try:
            parts = {
                name: DataFile(str(part["path"]), str(part["sha256"]), int(part["documents"]), int(part["entities"]))
                for name, part in get("data", dict, {}).items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(
                f"{origin}: 'data' must map splits to {{path, sha256, documents, entities}} ({exc!r})"
            ) from exc
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            engine=get("engine", str),
            schema=schema,
            created=get("created", str, None),
            data=parts,
            alignment=get("alignment", str, None),
            training=get("training", dict, {}),
            versions={str(k): str(v) for k, v in get("versions", dict, {}).items()},
            metrics=get("metrics", dict, {}),
            note=get("note", str, None),
            runtime=get("runtime", str, None),
            quantized=get("quantized", bool, None),
            source_model=get("source_model", str, None),
            onnx=get("onnx", dict, None),
            extra={key: value for key, value in data.items() if key not in known},
            format_version=version,
        )


def read_meta(model_dir: str | Path) -> ModelMeta:
    """The meta of ``model_dir``, or a :class:`ModelDirError` saying why it is not a model directory."""
    path = Path(model_dir) / META_FILE
    if not path.is_file():
        raise ModelDirError(f"{model_dir} is not a model directory (no {META_FILE}); train one with `vner train`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{path}: not valid JSON ({exc})") from exc
    return ModelMeta.from_dict(data, origin=str(path))


def write_meta(model_dir: str | Path, meta: ModelMeta) -> Path:
    """Write ``meta`` to ``model_dir/vner-model.json`` (creating the directory); returns the file."""
    path = Path(model_dir) / META_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
