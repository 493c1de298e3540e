"""Does labeling the most uncertain documents first pay? ``python -m annotation.al_bench``.

A simulation with the gold annotations as the oracle. For each seed, the gold documents are
shuffled into a validation set (spaCy's checkpoint selection during training), a small labeled
start set and a pool whose spans the selectors never see. The start model is trained once; then
each strategy runs ``--rounds`` rounds: rank the pool's texts with the current model
(``annotation.selection``), "label" the top ``--k`` (their gold spans join the training set),
retrain from scratch (spaCy engine) and score on the fixed dev file. The dev file is only ever
scored, never used to select documents or checkpoints. Small sets need more epochs than large ones
to learn anything: each training gets ``--doc-epochs / documents`` epochs (within ``--min-epochs``
and ``--max-epochs``), so every training costs about the same; all strategies get the same
epochs at the same number of documents.

Writes ``al_bench.json`` (every point, plus mean F1 per strategy and labeled-document count and
its difference to random) and ``al_bench.png`` (F1 against documents labeled, one line per
strategy, thin lines per seed) to ``--out``, and prints the summary table. The default run
(3 strategies, 2 seeds, 6 + 3 rounds of 6 documents: 20 trainings) is sized for about 25 minutes
on 2 shared cores.
Strategies are ``random``, ``uncertainty``, ``diverse``, optionally with an uncertainty measure
(``annotation.uncertainty.MEASURES``): the default run compares random with both measures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from annotation.selection import STRATEGIES, rank
from annotation.uncertainty import DEFAULT_MEASURE, MEASURES
from corpus.document import Document
from corpus.jsonl import FormatError, read_documents, write_documents
from corpus.paths import shared_dir
from corpus.schema import load_schema
from corpus.text import split_words

DEFAULT_STRATEGIES = ("random", "uncertainty", "uncertainty:margin-mean")


@dataclass
class Point:
    strategy: str
    seed: int
    round: int
    docs: int
    words: int  # syllables, numbers and symbols of the labeled texts: what the annotators read
    entities: int
    f1: float
    precision: float
    recall: float
    per_label_f1: dict[str, float]
    train_seconds: float
    select_seconds: float


def _strategy(spec: str) -> tuple[str, str]:
    name, _, measure = spec.partition(":")
    if name not in STRATEGIES:
        raise argparse.ArgumentTypeError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    measure = measure or DEFAULT_MEASURE
    if measure not in MEASURES:
        raise argparse.ArgumentTypeError(f"unknown measure {measure!r}; choose from {', '.join(MEASURES)}")
    return name, measure


class Trainer:
    """Trains spaCy models into ``root`` (throw-away directories) and scores them on the dev documents."""

    def __init__(self, root: Path, dev: list[Document], validation: Path, epochs: tuple[int, int, int],
                 eval_frequency: int, log: Path):
        self.root, self.dev, self.validation = root, dev, validation
        self.doc_epochs, self.min_epochs, self.max_epochs = epochs
        self.eval_frequency, self.log = eval_frequency, log
        self.count = 0

    def epochs(self, docs: int) -> int:
        """``doc_epochs / docs`` rounded up, within the bounds."""
        return max(self.min_epochs, min(self.max_epochs, -(-self.doc_epochs // max(1, docs))))

    def train(self, labeled: list[Document], seed: int) -> tuple[Path, dict[str, Any], float]:
        from training import evaluate_model, train_model

        self.count += 1
        out = self.root / f"model-{self.count:03d}"
        train = self.root / f"train-{self.count:03d}.jsonl"
        write_documents(train, labeled)
        began = time.perf_counter()
        with self.log.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(log):  # spaCy's tables
            train_model("spacy", load_schema(), train, self.validation, out, max_epochs=self.epochs(len(labeled)),
                        seed=seed, eval_frequency=self.eval_frequency)
        seconds = time.perf_counter() - began
        scores, _ = evaluate_model(str(out), self.dev)
        train.unlink()
        return out, scores.to_dict(), seconds


def _point(strategy: str, seed: int, round_: int, labeled: list[Document], scores: dict[str, Any],
           train_seconds: float, select_seconds: float) -> Point:
    micro = scores["micro"]
    return Point(strategy, seed, round_, len(labeled), sum(len(split_words(d.text)) for d in labeled),
                 sum(len(d.spans) for d in labeled), round(micro["f1"], 4), round(micro["precision"], 4),
                 round(micro["recall"], 4), {k: round(v["f1"], 4) for k, v in scores["per_label"].items()},
                 round(train_seconds, 1), round(select_seconds, 1))


def run_seed(seed: int, gold: list[Document], trainer: Trainer, strategies: list[tuple[str, str]], *, validation: int,
             start: int, k: int, rounds: int, say) -> list[Point]:
    """All strategies' learning curves for one shuffle of ``gold``."""
    from models import load_model

    docs = list(gold)
    random.Random(seed).shuffle(docs)
    write_documents(trainer.validation, docs[:validation])
    initial, pool = docs[validation:validation + start], docs[validation + start:]
    model0, start_scores, start_seconds = trainer.train(initial, seed)
    say(f"seed {seed}: start set of {len(initial)} documents: dev F1 {start_scores['micro']['f1']:.3f} "
        f"({start_seconds:.0f} s)")
    points = []
    for name, measure in strategies:
        label = name if name == "random" or measure == DEFAULT_MEASURE else f"{name}:{measure}"
        points.append(_point(label, seed, 0, initial, start_scores, start_seconds, 0.0))
        labeled, remaining, model = list(initial), list(pool), model0
        for round_ in range(1, rounds + 1):
            began = time.perf_counter()
            ranking = rank(name, [d.text for d in remaining], model=None if name == "random" else load_model(model),
                           k=k, labeled_texts=[d.text for d in labeled], measure=measure, seed=seed * 1000 + round_)
            select_seconds = time.perf_counter() - began
            chosen = set(ranking.order)
            labeled += [remaining[i] for i in ranking.order]
            remaining = [d for i, d in enumerate(remaining) if i not in chosen]
            if model != model0:
                shutil.rmtree(model, ignore_errors=True)
            model, scores, seconds = trainer.train(labeled, seed)
            points.append(_point(label, seed, round_, labeled, scores, seconds, select_seconds))
            say(f"seed {seed} {label} round {round_}: {len(labeled)} documents, dev F1 {scores['micro']['f1']:.3f} "
                f"(select {select_seconds:.0f} s, train {seconds:.0f} s)")
        if model != model0:
            shutil.rmtree(model, ignore_errors=True)
    shutil.rmtree(model0, ignore_errors=True)
    return points


def summarize(points: list[Point]) -> dict[str, Any]:
    """Mean and spread of F1 per strategy and labeled-document count, and each strategy's gain over random."""
    by: dict[str, dict[int, list[float]]] = {}
    for p in points:
        by.setdefault(p.strategy, {}).setdefault(p.docs, []).append(p.f1)
    table = {
        strategy: {
            str(docs): {"mean_f1": round(statistics.fmean(f1s), 4),
                        "sd_f1": round(statistics.stdev(f1s), 4) if len(f1s) > 1 else 0.0,
                        "min_f1": min(f1s), "max_f1": max(f1s), "seeds": len(f1s)}
            for docs, f1s in sorted(curve.items())
        }
        for strategy, curve in by.items()
    }
    gains: dict[str, dict[str, float]] = {}
    base = table.get("random", {})
    for strategy, curve in table.items():
        if strategy == "random":
            continue
        gains[strategy] = {docs: round(row["mean_f1"] - base[docs]["mean_f1"], 4)
                           for docs, row in curve.items() if docs in base}
    return {"f1": table, "gain_over_random": gains}


def plot(points: list[Point], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    strategies = list(dict.fromkeys(p.strategy for p in points))
    for index, strategy in enumerate(strategies):
        color = f"C{index}"
        mine = [p for p in points if p.strategy == strategy]
        for seed in sorted({p.seed for p in mine}):
            curve = sorted((p.docs, p.f1) for p in mine if p.seed == seed)
            ax.plot(*zip(*curve, strict=True), color=color, alpha=0.25, linewidth=1)
        counts = sorted({p.docs for p in mine})
        means = [(docs, statistics.fmean(p.f1 for p in mine if p.docs == docs)) for docs in counts]
        ax.plot(*zip(*means, strict=True), color=color, marker="o", linewidth=2, label=strategy)
    ax.set_xticks(sorted({p.docs for p in points}))
    ax.set_xlabel("documents labeled")
    ax.set_ylabel("dev micro F1 (strict)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def print_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table

    from corpus.console import console

    table = Table(title="dev micro F1 by documents labeled (mean over seeds; gain over random)")
    table.add_column("strategy")
    counts = sorted({int(d) for curve in summary["f1"].values() for d in curve})
    for docs in counts:
        table.add_column(str(docs), justify="right")
    for strategy, curve in summary["f1"].items():
        gain = summary["gain_over_random"].get(strategy, {})
        cells = []
        for docs in counts:
            row = curve.get(str(docs))
            if row is None:
                cells.append("")
                continue
            extra = f" ({gain[str(docs)]:+.3f})" if str(docs) in gain and docs != counts[0] else ""
            cells.append(f"{row['mean_f1']:.3f}±{row['sd_f1']:.3f}{extra}")
        table.add_row(strategy, *cells)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    gold_dir = shared_dir() / "gold"
    parser = argparse.ArgumentParser(prog="python -m annotation.al_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=gold_dir / "train.jsonl", help="labeled documents (oracle)")
    parser.add_argument("--dev", type=Path, default=gold_dir / "dev.jsonl", help="fixed dev set: only scored")
    parser.add_argument("--out", type=Path, default=Path("var/al-bench"), help="where the JSON and PNG go")
    parser.add_argument("--strategies", type=_strategy, nargs="+",
                        default=[_strategy(s) for s in DEFAULT_STRATEGIES])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--validation", type=int, default=4, help="documents set aside for checkpoint selection")
    parser.add_argument("--start", type=int, default=6, help="documents labeled before the first round")
    parser.add_argument("--k", type=int, default=6, help="documents labeled per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--doc-epochs", type=int, default=96, help="epochs x documents of each training")
    parser.add_argument("--min-epochs", type=int, default=4)
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument("--eval-frequency", type=int, default=20, help="spaCy steps between validation scores")
    args = parser.parse_args(argv)

    try:
        gold, dev = read_documents(args.gold), read_documents(args.dev)
    except (FormatError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shared = {d.text for d in gold} & {d.text for d in dev}
    if shared:
        print(f"error: {len(shared)} documents of {args.dev} are also in {args.gold}", file=sys.stderr)
        return 2
    needed = args.validation + args.start + args.k * args.rounds
    if len(gold) < needed:
        print(f"error: {args.gold} has {len(gold)} documents; this run needs {needed}", file=sys.stderr)
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["VNER_HOME"] = str((args.out / "home").resolve())  # train_model's LATEST pointer goes here
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = args.out / "train.log"
    log.unlink(missing_ok=True)
    trainer = Trainer(work, dev, work / "validation.jsonl", (args.doc_epochs, args.min_epochs, args.max_epochs),
                      args.eval_frequency, log)
    began = time.perf_counter()
    points: list[Point] = []
    for seed in args.seeds:
        points += run_seed(seed, gold, trainer, args.strategies, validation=args.validation, start=args.start,
                           k=args.k, rounds=args.rounds, say=lambda line: print(line, flush=True))
    shutil.rmtree(work, ignore_errors=True)
    summary = summarize(points)
    config = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    config["strategies"] = [f"{n}:{m}" for n, m in args.strategies]
    minutes = (time.perf_counter() - began) / 60
    result = {"config": config, "minutes": round(minutes, 1), "trainings": trainer.count, "summary": summary,
              "points": [asdict(p) for p in points]}
    (args.out / "al_bench.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    title = (f"{len(args.seeds)} seeds; start {args.start} + {args.rounds} rounds of {args.k} docs; "
             f"spaCy, {args.doc_epochs} doc-epochs a training; dev {len(dev)} docs")
    png = plot(points, args.out / "al_bench.png", title)
    print_summary(summary)
    print(json.dumps(summary, indent=1))
    print(f"{trainer.count} trainings in {minutes:.1f} min; wrote {args.out / 'al_bench.json'} and {png} "
          f"(training output: {log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
