"""Train one recipe with several seeds and report mean and spread: a 0.005 change on 28 articles is noise.

``python -m training.seeds_bench --engine spacy --train TRAIN.jsonl --dev DEV.jsonl --out DIR --seeds 0 1 2
[--set KEY=VALUE ...] [--int8]`` runs ``python -m training.bench`` once per seed, each in a fresh
process (so peak memory is per run), into ``DIR/seed-N``. With ``--int8`` (transformers) each model
is also exported with ``vner export-onnx --quantize`` and scored on dev. Prints a Markdown table
(micro and per-label F1 as mean ± standard deviation, min-max, training time) and writes
``DIR/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training import ENGINES


def _run(args: list[str], python: bool = True) -> str:
    done = subprocess.run([sys.executable, *args] if python else args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def _vner(*args: str) -> str:
    """Run this environment's ``vner`` command; its standard output."""
    return _run([str(Path(sys.executable).parent / "vner"), *args], python=False)


def _int8_scores(model: Path, dev: Path) -> dict[str, Any]:
    """Export ``model`` to ONNX int8 (calibrated on the bundled seeds) and score it on ``dev``."""
    _vner("export-onnx", str(model), "--quantize", "--force")
    return json.loads(_vner("evaluate", "--model", f"{model}-onnx-int8", "--data", str(dev), "--json"))


def spread(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation, min and max."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread of micro and per-label F1 (and int8 micro F1 when present) over the runs."""
    labels = list(runs[0]["dev_f1_per_label"])
    summary: dict[str, Any] = {
        "seeds": [run["options"].get("seed") for run in runs],
        "micro_f1": spread([run["dev_micro"]["f1"] for run in runs]),
        "per_label_f1": {label: spread([run["dev_f1_per_label"][label] for run in runs]) for label in labels},
        "train_seconds": spread([run["train_seconds"] for run in runs]),
        "train_cpu_seconds": spread([run["train_cpu_seconds"] for run in runs]),
        "train_peak_rss_mb": max(run["train_peak_rss_mb"] for run in runs),
    }
    if all("int8" in run for run in runs):
        summary["int8_micro_f1"] = spread([run["int8"]["micro"]["f1"] for run in runs])
        summary["int8_minus_torch"] = spread([run["int8"]["micro"]["f1"] - run["dev_micro"]["f1"] for run in runs])
    return summary


def markdown(engine: str, summary: dict[str, Any]) -> str:
    def cell(stats: dict[str, float]) -> str:
        return f"{stats['mean']:.3f} ± {stats['std']:.3f}"

    rows = [
        "| engine | micro F1 | " + " | ".join(summary["per_label_f1"]) + " | training |",
        "|---" * (len(summary["per_label_f1"]) + 3) + "|",
        f"| {engine} | **{cell(summary['micro_f1'])}** ({summary['micro_f1']['min']:.3f}-"
        f"{summary['micro_f1']['max']:.3f}) | " + " | ".join(cell(s) for s in summary["per_label_f1"].values())
        + f" | {summary['train_seconds']['mean'] / 60:.1f} min |",
    ]
    if "int8_micro_f1" in summary:
        rows.append(f"\nONNX int8: micro F1 {cell(summary['int8_micro_f1'])}; int8 - PyTorch "
                    f"{summary['int8_minus_torch']['mean']:+.4f} (min {summary['int8_minus_torch']['min']:+.4f})")
    return "\n".join(rows)


def bench_seeds(engine: str, train: Path, dev: Path, out: Path, seeds: Sequence[int], options: Sequence[str] = (),
                int8: bool = False) -> dict[str, Any]:
    """Run ``training.bench`` once per seed into ``out/seed-N``; the summary, also written to ``out/summary.json``.

    ``options`` are trainer ``KEY=VALUE`` settings; ``int8`` also exports each model to ONNX int8 and scores it.
    """
    runs = []
    sets = [item for option in options for item in ("--set", option)]
    for seed in seeds:
        model = out / f"seed-{seed}"
        run = json.loads(_run(["-m", "training.bench", "--engine", engine, "--train", str(train),
                               "--dev", str(dev), "--out", str(model), "--set", f"seed={seed}", *sets]))
        if int8:
            run["int8"] = _int8_scores(model, dev)
        (out / f"seed-{seed}.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
        print(f"seed {seed}: micro F1 {run['dev_micro']['f1']:.4f}, {run['train_seconds']} s", file=sys.stderr)
        runs.append(run)
    summary = summarize(runs)
    (out / "summary.json").write_text(json.dumps({"runs": runs, "summary": summary}, indent=2) + "\n",
                                      encoding="utf-8")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=ENGINES, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="directory for the models (seed-N) and summary.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="options", action="append", default=[], help="trainer option KEY=VALUE")
    parser.add_argument("--int8", action="store_true", help="transformers: also export to ONNX int8 and score it")
    args = parser.parse_args()
    summary = bench_seeds(args.engine, args.train, args.dev, args.out, args.seeds, args.options, args.int8)
    print(markdown(args.engine, summary))


if __name__ == "__main__":
    main()
