"""Latency of the HTTP service under concurrent requests: ``python -m models.service_bench --model DIR``.

Starts ``vner``'s service in a separate process (so the client does not share its interpreter),
sends ``--requests`` POST /predict requests from ``--concurrency`` threads at once (the first
paragraphs of the seed articles, as in the service's concurrency test) and prints one JSON object:
p50/p95/max latency in seconds and requests per second. ``--big-chars N`` first sends one text
of N characters and measures the small requests while it is being tagged (head-of-line blocking).
``--workers`` is passed to ``create_app`` when given.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE

SERVER = """
import sys, uvicorn
from models.service import create_app
model, port, workers = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kwargs = {"workers": int(workers)} if workers else {}
uvicorn.run(create_app(model, max_chars=2_000_000, max_body_bytes=64 * 2**20, **kwargs), port=port,
            log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run(model: Path, requests: int, concurrency: int, big_chars: int, workers: int | None) -> dict:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(model), str(port), str(workers or "")], env={**os.environ}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the service did not start") from None
                time.sleep(0.2)
        texts = [d.text[:1500] for d in read_documents(BUNDLED_GOLD_FILE)]
        for text in texts:  # warm-up
            httpx.post(f"{url}/predict", json={"text": text}, timeout=120)

        def ask(i: int) -> float:
            started = time.perf_counter()
            response = httpx.post(f"{url}/predict", json={"text": texts[i % len(texts)]}, timeout=300)
            response.raise_for_status()
            return time.perf_counter() - started

        with ThreadPoolExecutor(max_workers=concurrency + 1) as pool:
            big = None
            if big_chars:
                article = "\n\n".join(d.text for d in read_documents(BUNDLED_GOLD_FILE))
                text = (article * (big_chars // len(article) + 1))[:big_chars]
                big = pool.submit(lambda: httpx.post(f"{url}/predict", json={"text": text}, timeout=600))
                time.sleep(3)  # the big text is being tagged when the small ones arrive
            started = time.perf_counter()
            latencies = list(pool.map(ask, range(requests)))
            wall = time.perf_counter() - started
            big_seconds = None
            if big is not None:
                big.result().raise_for_status()
                big_seconds = round(time.perf_counter() - started + 3, 2)
    finally:
        server.terminate()
        server.wait(30)
    return {
        "model": model.name,
        "workers": workers,
        "requests": requests,
        "concurrency": concurrency,
        "big_chars": big_chars,
        "latency_p50_s": round(_percentile(latencies, 0.5), 3),
        "latency_p95_s": round(_percentile(latencies, 0.95), 3),
        "latency_max_s": round(max(latencies), 3),
        "requests_per_second": round(requests / wall, 1),
        "big_request_s": big_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="Model directory")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--big-chars", type=int, default=0, help="One text this long in flight meanwhile")
    parser.add_argument("--workers", type=int, default=None, help="Model instances of the service")
    args = parser.parse_args()
    print(json.dumps(run(args.model, args.requests, args.concurrency, args.big_chars, args.workers)))


if __name__ == "__main__":
    main()
