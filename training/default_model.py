"""Build the model shipped with the project (``models/data/default-model``): ``make default-model``.

``python -m training.default_model [--shared DIR]`` runs one recipe twice (spaCy engine, the
versioned config, a fixed number of epochs, the last epoch kept, so nothing is chosen by dev):

1. held out: trained on ``gold/train.jsonl`` + ``gold/seeds.jsonl``, scored on ``gold/dev.jsonl``:
   the figures the model card reports;
2. shipped: the same recipe on all three files.

The shipped directory's ``vner-model.json`` and card give the sha256 of each gold file, the
held-out scores and the run's settings. ``load_model()`` falls back to it when no model is given,
set in ``$VNER_MODEL`` or trained (``LATEST``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from corpus.files import staged_dir
from corpus.gold import read_gold
from corpus.jsonl import write_documents
from corpus.paths import shared_dir
from corpus.schema import LabelSchema, load_schema
from models.card import DataFile, ModelMeta, write_meta
from models.loading import BUNDLED_MODEL_DIR
from training.model_card import write_card
from training.run import describe_file, train_model

GOLD_FILES = ("train", "dev", "seeds")  # ../shared/gold/<name>.jsonl
RECIPE: dict[str, Any] = {"keep": "last", "seed": 0}


def _combined(paths: list[Path], out: Path) -> Path:
    schema = load_schema()
    write_documents(out, [doc for path in paths for doc in read_gold(path, schema)])
    return out


def _described(path: Path, schema: LabelSchema) -> DataFile:
    """The file's hash and size, its path relative to the shared data (the builder's absolute path means nothing
    to a reader of the committed card)."""
    return replace(describe_file(path, read_gold(path, schema)), path=f"{path.parent.name}/{path.name}")


def build_default_model(gold_dir: Path, out_dir: Path = BUNDLED_MODEL_DIR, work: Path | None = None) -> ModelMeta:
    """Train the held-out and the shipped model; write the shipped one to ``out_dir``; returns its meta."""
    files = {name: gold_dir / f"{name}.jsonl" for name in GOLD_FILES}
    schema = load_schema()
    with tempfile.TemporaryDirectory(prefix="vner-default-") as tmp:
        scratch = Path(work or tmp)
        train = _combined([files["train"], files["seeds"]], scratch / "train+seeds.jsonl")
        held_out = train_model("spacy", schema, train, files["dev"], scratch / "held-out", promote="never",
                               **RECIPE).meta
        everything = _combined(list(files.values()), scratch / "all.jsonl")
        shipped = train_model("spacy", schema, everything, files["seeds"], scratch / "shipped", promote="never",
                              **RECIPE).meta
        meta = replace(
            shipped,
            data={name: _described(path, schema) for name, path in files.items()},
            metrics={"dev": held_out.metrics["dev"]},
            note="Trained on train + dev + seeds. The dev scores below come from the same recipe trained on "
                 "train + seeds, with dev held out.",
        )
        write_meta(scratch / "shipped", meta)
        write_card(scratch / "shipped", meta)
        with staged_dir(out_dir) as staging:
            shutil.copytree(scratch / "shipped", staging, dirs_exist_ok=True)
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=None, help="shared data (default: $VNER_SHARED or ../shared)")
    parser.add_argument("--out", type=Path, default=BUNDLED_MODEL_DIR, help="where to write the model")
    args = parser.parse_args()
    meta = build_default_model((args.shared or shared_dir()) / "gold", args.out)
    size = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file())
    dev = meta.metrics["dev"]
    print(f"default model -> {args.out} ({size / 2**20:.1f} MB); held-out dev micro F1 {dev['micro']['f1']:.3f}; "
          + ", ".join(f"{label} {row['f1']:.3f}" for label, row in dev["per_label"].items()))


if __name__ == "__main__":
    main()
