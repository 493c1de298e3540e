"""The model card (README.md) of a model directory, generated from its ``vner-model.json``."""

from __future__ import annotations

from pathlib import Path

from models.card import ModelMeta


def render_card(meta: ModelMeta) -> str:
    lines = [
        f"# vner model: {meta.engine}",
        "",
        f"Vietnamese NER for local-government news, trained {meta.created or '?'} by `vner train`.",
        "",
        *([meta.note, ""] if meta.note else []),
        "## Labels",
        "",
        *(f"- **{label.name}**: {label.description}" for label in meta.schema.labels),
        "",
        "## Data",
        "",
        "| split | file | sha256 | documents | entities |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {part.path} | `{part.sha256[:12]}` | {part.documents} | {part.entities} |"
            for name, part in meta.data.items()
        ),
        "",
        f"Alignment: {meta.alignment or 'n/a'}",
        "",
    ]
    dev = meta.metrics.get("dev")
    if dev:
        lines += [
            "## Dev scores (strict character spans)",
            "",
            f"micro P {dev['micro']['precision']:.3f} R {dev['micro']['recall']:.3f} F1 {dev['micro']['f1']:.3f}; "
            f"macro F1 {dev['macro']['f1']:.3f}; partial-overlap F1 {dev['partial']['f1']:.3f}",
            "",
            "| label | P | R | F1 | support |",
            "|---|---|---|---|---|",
            *(
                f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |"
                for label, row in dev["per_label"].items()
            ),
            "",
        ]
    lines += [
        "## Training",
        "",
        *(f"- {key}: {value}" for key, value in meta.training.items()),
        "",
        "## Versions",
        "",
        *(f"- {key} {value}" for key, value in meta.versions.items()),
        "",
        "Load it with `from models import load_model, predict`; `predict(text, model=DIR)`.",
        "",
    ]
    return "\n".join(lines)


def write_card(model_dir: Path, meta: ModelMeta) -> Path:
    path = model_dir / "README.md"
    path.write_text(render_card(meta), encoding="utf-8")
    return path
