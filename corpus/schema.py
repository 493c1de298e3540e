"""The label schema: the one place that says which entity labels and relation types exist.

The default set (``data/labels.json``) follows ``annotation-spec.md`` v1.3. A project can use a
different set by pointing ``VNER_LABELS`` (or ``--labels``) at a JSON file of the same shape.
Everything else (Label Studio config, BIO tags, converters, predict output) derives from a
:class:`LabelSchema`. Relation types (``"relations"``, optional) name the labels allowed at
their head and at their tail.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from corpus.paths import DEFAULT_LABELS_FILE

LABELS_ENV = "VNER_LABELS"


class SchemaError(ValueError):
    """A label schema file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Label:
    name: str
    description: str
    color: str
    hotkey: str
    span: bool = False  # found by the engines' span classifiers (long spans around a value: TARGET), not BIO tags


@dataclass(frozen=True)
class RelationType:
    """A relation type: a link from a span labeled one of ``heads`` to one labeled one of ``tails``."""

    name: str
    description: str
    heads: tuple[str, ...]
    tails: tuple[str, ...]

    def allows(self, head_label: str, tail_label: str) -> bool:
        return head_label in self.heads and tail_label in self.tails


@dataclass(frozen=True)
class LabelSchema:
    name: str
    labels: tuple[Label, ...]
    relations: tuple[RelationType, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @property
    def span_labels(self) -> tuple[str, ...]:
        """Labels the engines find with a span classifier instead of tags (``"span": true``: TARGET)."""
        return tuple(label.name for label in self.labels if label.span)

    @property
    def relation_names(self) -> tuple[str, ...]:
        return tuple(relation.name for relation in self.relations)

    def relation(self, name: str) -> RelationType | None:
        """The relation type called ``name``, or None."""
        return next((r for r in self.relations if r.name == name), None)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def bio_tags(self, *, span_labels: bool = True) -> list[str]:
        """``O`` then ``B-X``, ``I-X`` for each label X in schema order (without :attr:`span_labels` if asked)."""
        tags = ["O"]
        for name in self.names:
            if span_labels or name not in self.span_labels:
                tags += [f"B-{name}", f"I-{name}"]
        return tags

    def to_dict(self) -> dict:
        out: dict = {"name": self.name, "labels": [label.__dict__ for label in self.labels]}
        if self.relations:
            out["relations"] = [
                {"name": r.name, "description": r.description, "head": list(r.heads), "tail": list(r.tails)}
                for r in self.relations
            ]
        return out

    @classmethod
    def from_dict(cls, data: dict, origin: str = "<dict>") -> LabelSchema:
        try:
            labels = tuple(
                Label(
                    name=str(item["name"]),
                    description=str(item.get("description", "")),
                    color=str(item.get("color", "#888888")),
                    hotkey=str(item.get("hotkey", "")),
                    span=bool(item.get("span", False)),
                )
                for item in data["labels"]
            )
            name = str(data.get("name", "custom"))
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"{origin}: expected {{'labels': [{{'name': ...}}, ...]}} ({exc!r})") from exc
        _check(labels, origin)
        try:
            relations = tuple(
                RelationType(
                    name=str(item["name"]),
                    description=str(item.get("description", "")),
                    heads=tuple(str(x) for x in item["head"]),
                    tails=tuple(str(x) for x in item["tail"]),
                )
                for item in data.get("relations") or []
            )
        except (KeyError, TypeError) as exc:
            raise SchemaError(
                f"{origin}: expected 'relations': [{{'name': ..., 'head': [labels], 'tail': [labels]}}, ...] ({exc!r})"
            ) from exc
        _check_relations(relations, {label.name for label in labels}, origin)
        return cls(name=name, labels=labels, relations=relations)


def _check(labels: tuple[Label, ...], origin: str) -> None:
    if not labels:
        raise SchemaError(f"{origin}: the label set is empty")
    for attr in ("name", "hotkey"):
        values = [getattr(label, attr) for label in labels if getattr(label, attr)]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise SchemaError(f"{origin}: duplicate label {attr}s: {', '.join(dupes)}")
    for label in labels:
        if not label.name.isupper() or not label.name.replace("_", "").isalnum():
            raise SchemaError(f"{origin}: label name {label.name!r} must be upper-case letters, digits or _")


def _check_relations(relations: tuple[RelationType, ...], labels: set[str], origin: str) -> None:
    names = [r.name for r in relations]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SchemaError(f"{origin}: duplicate relation names: {', '.join(dupes)}")
    for relation in relations:
        if not relation.name.isupper() or not relation.name.replace("_", "").isalnum():
            raise SchemaError(f"{origin}: relation name {relation.name!r} must be upper-case letters, digits or _")
        if not relation.heads or not relation.tails:
            raise SchemaError(f"{origin}: relation {relation.name} needs at least one head and one tail label")
        unknown = sorted(set(relation.heads + relation.tails) - labels)
        if unknown:
            raise SchemaError(f"{origin}: relation {relation.name} names unknown labels: {', '.join(unknown)}")


@cache
def _load(path: Path) -> LabelSchema:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SchemaError(f"label schema file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: not valid JSON ({exc})") from exc
    return LabelSchema.from_dict(data, origin=str(path))


def load_schema(path: str | Path | None = None) -> LabelSchema:
    """The schema from ``path``, else ``$VNER_LABELS``, else the bundled default."""
    chosen = path or os.environ.get(LABELS_ENV) or DEFAULT_LABELS_FILE
    return _load(Path(chosen).resolve())


def with_default_relations(schema: LabelSchema) -> LabelSchema:
    """``schema`` itself when it defines relation types; else ``schema`` with the default schema's
    relation types whose labels it has (models trained before relation types existed carry none)."""
    if schema.relations:
        return schema
    usable = tuple(r for r in load_schema().relations if set(r.heads + r.tails) <= set(schema.names))
    return LabelSchema(name=schema.name, labels=schema.labels, relations=usable)
