"""Learning curve for one label: how its dev F1 grows with the training articles that hold it.

``python -m training.label_curve --engine spacy --train TRAIN.jsonl --dev DEV.jsonl --label TARGET
--fractions 0.25 0.5 0.75 1 --seeds 0 1 --out DIR [--set KEY=VALUE ...]`` keeps every training article
without the label and a growing share of those with it (nested subsets, drawn once with
``--sample-seed``), trains each subset with ``training.seeds_bench.bench_seeds`` into ``DIR/pct-N``,
then prints a Markdown table (label spans, the label's F1 and micro F1 as mean ± sd over seeds) and
writes ``DIR/curve.json`` and ``DIR/curve.png``. It answers "would more annotated articles like
these help, and how much?" before anyone annotates them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corpus.document import Document
from corpus.jsonl import read_documents, write_documents
from corpus.schema import load_schema
from corpus.stats import corpus_stats
from training import ENGINES
from training.seeds_bench import bench_seeds


def label_subsets(
    docs: Sequence[Document], label: str, fractions: Sequence[float], sample_seed: int = 0
) -> dict[float, list[Document]]:
    """For each fraction, every document without ``label`` plus that share of those with it.

    The documents with the label are shuffled once, so a larger fraction's subset contains every
    smaller one's (the curve measures more data, not different data).
    """
    if any(not 0 < fraction <= 1 for fraction in fractions):
        raise ValueError(f"fractions must be in (0, 1]: {list(fractions)}")
    holds = [any(span.label == label for span in doc.spans) for doc in docs]
    holding = [doc for doc, has in zip(docs, holds, strict=True) if has]
    others = [doc for doc, has in zip(docs, holds, strict=True) if not has]
    if not holding:
        raise ValueError(f"no training document holds a {label} span")
    random.Random(sample_seed).shuffle(holding)
    return {fraction: others + holding[: max(1, round(len(holding) * fraction))] for fraction in fractions}


def write_plot(points: Sequence[dict[str, Any]], label: str, path: Path) -> Path:
    """The label's F1 and micro F1 (mean, with the seeds' spread) against its training spans, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot(1, 1, 1)
    spans = [point["label_spans"] for point in points]
    for key, name in (("label_f1", f"{label} F1"), ("micro_f1", "micro F1")):
        axis.errorbar(
            spans,
            [p[key]["mean"] for p in points],
            yerr=[p[key]["std"] for p in points],
            fmt="o-",
            capsize=3,
            label=name,
        )
    axis.set_xlabel(f"{label} spans in training")
    axis.set_ylabel("dev F1 (strict)")
    axis.set_ylim(0, 1)
    axis.legend(loc="lower right", fontsize="small")
    figure.suptitle(f"{label}: learning curve")
    figure.tight_layout()
    figure.savefig(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=ENGINES, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", type=Path, required=True, help="directory for the subsets, models and curve")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--sample-seed", type=int, default=0, help="seed of the draw of articles holding the label")
    parser.add_argument("--set", dest="options", action="append", default=[], help="trainer option KEY=VALUE")
    args = parser.parse_args()
    if args.label not in load_schema().names:
        raise SystemExit(f"{args.label} is not a label of the schema the models train on")
    try:
        subsets = label_subsets(read_documents(args.train), args.label, sorted(args.fractions), args.sample_seed)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    args.out.mkdir(parents=True, exist_ok=True)
    points = []
    for fraction, docs in subsets.items():
        name = f"pct-{round(fraction * 100)}"
        write_documents(args.out / f"{name}.jsonl", docs)
        summary = bench_seeds(
            args.engine, args.out / f"{name}.jsonl", args.dev, args.out / name, args.seeds, args.options
        )
        points.append(
            {
                "fraction": fraction,
                "documents": len(docs),
                "label_spans": corpus_stats(docs).entities[args.label],
                "label_f1": summary["per_label_f1"][args.label],
                "micro_f1": summary["micro_f1"],
            }
        )
        print(f"{name}: {args.label} F1 {points[-1]['label_f1']['mean']:.3f}", file=sys.stderr)
    (args.out / "curve.json").write_text(json.dumps(points, indent=2) + "\n", encoding="utf-8")
    write_plot(points, args.label, args.out / "curve.png")
    print(f"| share of articles with {args.label} | articles | {args.label} spans | {args.label} F1 | micro F1 |")
    print("|---|---|---|---|---|")
    for p in points:
        print(
            f"| {p['fraction']:.0%} | {p['documents']} | {p['label_spans']} | {p['label_f1']['mean']:.3f} ± "
            f"{p['label_f1']['std']:.3f} | {p['micro_f1']['mean']:.3f} ± {p['micro_f1']['std']:.3f} |"
        )


if __name__ == "__main__":
    main()
