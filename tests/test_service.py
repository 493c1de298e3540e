"""The HTTP service on a real uvicorn server (127.0.0.1, free port), with a small spaCy model."""

from __future__ import annotations

import json
import socket
import threading
import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn

from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from models import predict
from models.card import ModelDirError, read_meta
from models.service import create_app, server_config

SEEDS = read_documents(BUNDLED_GOLD_FILE)
MAX_CHARS = 100_000  # below the 1 MiB body limit, so "text too long" can be reached
HEADER_TIMEOUT, BODY_TIMEOUT = 1.0, 2.0
ENTITY_KEYS = ["start", "end", "label", "text", "score"]


@pytest.fixture(scope="module")
def server(seed_model: Path) -> Iterator[str]:
    """``create_app`` served by uvicorn in a background thread; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(seed_model, max_chars=MAX_CHARS, workers=2, body_timeout=BODY_TIMEOUT)
    config = server_config(app, header_timeout=HEADER_TIMEOUT, log_level="warning", timeout_graceful_shutdown=5)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # the model worker processes load the model before the server starts
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def post(
    server: str, body: object = None, *, content: bytes | Iterator[bytes] | None = None, headers: dict | None = None
) -> httpx.Response:
    """POST /predict: ``body`` as JSON, or raw ``content`` (JSON content type unless ``headers`` say otherwise)."""
    if content is None:
        return httpx.post(f"{server}/predict", json=body, timeout=60)
    headers = headers or {"Content-Type": "application/json"}
    return httpx.post(f"{server}/predict", content=content, headers=headers, timeout=60)


def assert_json_error(response: httpx.Response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    for word in words:
        assert word in body["error"]
    return body


def test_health(server: str, seed_model: Path) -> None:
    response = httpx.get(f"{server}/health")
    assert response.status_code == 200
    version = f"{seed_model.resolve().name}@{read_meta(seed_model).created}"
    assert response.json() == {"status": "ok", "engine": "spacy", "model": version}


def test_model_describes_labels_scores_versions(server: str, seed_model: Path) -> None:
    meta = read_meta(seed_model)
    info = httpx.get(f"{server}/model").json()
    assert info["engine"] == "spacy" and info["runtime"] == "spacy"
    assert info["name"] == seed_model.resolve().name
    assert info["version"] == f"{seed_model.resolve().name}@{meta.created}"
    assert "path" not in info
    for endpoint in ("model", "health", "openapi.json"):  # where the model lives is the operator's business
        assert str(seed_model.resolve().parent) not in httpx.get(f"{server}/{endpoint}").text
    assert info["created"] == meta.created
    assert [label["name"] for label in info["labels"]] == list(load_schema().names)
    assert all(label["color"].startswith("#") and label["description"] for label in info["labels"])
    dev = info["metrics"]["dev"]
    assert dev["micro_f1"] == meta.metrics["dev"]["micro"]["f1"] > 0
    assert dev["per_label_f1"] == {k: v["f1"] for k, v in meta.metrics["dev"]["per_label"].items()}
    assert set(dev["per_label_f1"]) == set(load_schema().names)
    assert info["versions"]["spacy"] == meta.versions["spacy"]
    assert info["max_chars"] == MAX_CHARS and info["max_body_bytes"] == 1024 * 1024


def test_one_text(server: str, seed_model: Path) -> None:
    text = SEEDS[0].text
    response = post(server, {"text": text})
    assert response.status_code == 200
    entities = response.json()["entities"]
    assert len(entities) > 3
    assert all(list(e) == ENTITY_KEYS for e in entities)
    assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)
    assert entities == predict(text, seed_model)


def test_batch_gives_the_same_entities_as_single_texts(server: str) -> None:
    texts = [d.text for d in SEEDS[:2]] + ["", " \n"]
    response = post(server, {"texts": texts})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(texts) and results[0] and results[2] == [] and results[3] == []
    assert results == [post(server, {"text": t}).json()["entities"] for t in texts]
    assert post(server, {"texts": []}).json() == {"results": []}


def test_offsets_index_the_text_as_sent(server: str) -> None:
    clean = SEEDS[1].text
    prefix = "😀 🇻🇳\r\n"  # a line of its own: what the model makes of it is not compared below
    mangled = prefix + unicodedata.normalize("NFD", clean).replace("\n", "\r\n").replace(" ", "\t", 3)
    assert mangled != clean and len(mangled) > len(clean)
    single = post(server, {"text": mangled}).json()["entities"]
    batch = post(server, {"texts": [clean, mangled]}).json()["results"]
    assert single and batch[1] == single
    for original, entities in ((mangled, single), (clean, batch[0])):
        for ent in entities:
            assert original[ent["start"] : ent["end"]] == ent["text"]
    nfc = [
        unicodedata.normalize("NFC", e["text"]).replace("\t", " ").replace("\r\n", "\n")
        for e in single
        if e["start"] >= len(prefix)
    ]
    assert nfc == [e["text"] for e in batch[0]]


def test_body_over_the_limit_is_refused_with_413(server: str) -> None:
    big = json.dumps({"text": "Hà Nội " * 300_000}).encode()  # about 2 MB of JSON
    assert len(big) > 2_000_000
    assert_json_error(post(server, content=big), 413, "too large", "1 MiB")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted on the bytes received
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    assert_json_error(post(server, content=chunks()), 413, "too large")
    assert httpx.get(f"{server}/health").status_code == 200


def test_text_over_max_chars_is_refused(server: str) -> None:
    long_text = "a" * (MAX_CHARS + 1)
    assert_json_error(post(server, {"text": long_text}), 413, "text has 100,001 characters", "at most 100,000")
    assert_json_error(post(server, {"texts": ["ok", long_text]}), 413, "texts[1]")


def test_malformed_json_is_a_400(server: str) -> None:
    assert_json_error(post(server, content=b'{"text": "Huy'), 400, "not valid JSON")
    assert_json_error(post(server, content=b"\xff\xfe garbage"), 400, "not valid JSON")
    form = post(server, content=b"text=abc", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_json_error(form, 415, "application/json")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"text": 42}, "text"),
        ({"text": ["a"]}, "text"),
        ({"texts": ["ok", None]}, "texts[1]"),
        ({"texts": "not a list"}, "texts"),
        ({"texts": [1, 2]}, "texts[0]"),
        ({}, "exactly one"),
        ({"text": None}, "exactly one"),
        ({"text": "a", "texts": ["b"]}, "exactly one"),
        ({"txt": "typo"}, "txt"),
        (["a list"], "body"),
        ("a string", "body"),
        (None, "body"),
    ],
)
def test_wrong_shapes_and_types_are_422(server: str, body: object, where: str) -> None:
    response = post(server, content=json.dumps(body).encode())
    error = assert_json_error(response, 422, where)
    assert error["detail"] and all({"loc", "msg", "type"} <= set(d) for d in error["detail"])


def test_unknown_routes_and_methods_answer_json(server: str) -> None:
    assert_json_error(httpx.get(f"{server}/nowhere"), 404, "Not Found")
    assert_json_error(httpx.get(f"{server}/predict"), 405, "Method Not Allowed")


def test_concurrent_requests_are_all_answered_identically(server: str) -> None:
    texts = [d.text[:1500] for d in SEEDS]  # the first paragraphs: quick, and still different
    expected = [post(server, {"text": t}).json()["entities"] for t in texts]
    jobs = [i % len(texts) for i in range(20)]

    def ask(i: int) -> tuple[int, int, object]:
        if i % 4 == 3:  # some batches among the single texts
            response = post(server, {"texts": [texts[i], texts[(i + 1) % len(texts)]]})
            return i, response.status_code, response.json()["results"]
        response = post(server, {"text": texts[i]})
        return i, response.status_code, response.json()["entities"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, jobs))
    assert len(answers) == 20
    for i, status, got in answers:
        assert status == 200
        assert got == ([expected[i], expected[(i + 1) % len(texts)]] if i % 4 == 3 else expected[i])


def test_openapi_docs(server: str) -> None:
    docs = httpx.get(f"{server}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(f"{server}/openapi.json").json()
    assert {"/predict", "/health", "/model"} <= set(spec["paths"])
    assert {"PredictRequest", "EntitiesResponse", "ResultsResponse", "ModelInfo"} <= set(spec["components"]["schemas"])
    assert {"413", "422"} <= set(spec["paths"]["/predict"]["post"]["responses"])


@pytest.mark.usefixtures("no_shipped_model")
def test_no_model_fails_at_once() -> None:
    with pytest.raises(ModelDirError, match="vner train"):
        create_app()
    with pytest.raises(ModelDirError, match="not a model directory"):
        create_app("/nonexistent/model")


# ---------------------------------------------------------------- slow clients, long texts, invalid Unicode


def _raw_connection(server: str) -> socket.socket:
    host, port = server.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_all(conn: socket.socket) -> bytes:
    """What the server sends until it closes the connection (the socket timeout fails the test)."""
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def test_connections_that_send_nothing_or_half_the_headers_are_closed(server: str) -> None:
    silent = [_raw_connection(server) for _ in range(50)]
    halves = [_raw_connection(server) for _ in range(50)]
    for conn in halves:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Ty")
    started = time.monotonic()
    assert post(server, {"text": SEEDS[0].text[:300]}).status_code == 200  # others are still answered
    for conn in silent + halves:
        assert _read_all(conn) == b""  # closed by the server, nothing answered
        conn.close()
    assert time.monotonic() - started < HEADER_TIMEOUT + 5


def test_a_body_that_does_not_arrive_in_time_is_a_408(server: str) -> None:
    conn = _raw_connection(server)
    conn.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"text": "Huy'
    )
    started = time.monotonic()
    answer = _read_all(conn).decode()
    conn.close()
    assert BODY_TIMEOUT - 0.5 < time.monotonic() - started < BODY_TIMEOUT + 5
    assert answer.startswith("HTTP/1.1 408") and "connection: close" in answer.lower()
    assert json.loads(answer.split("\r\n\r\n", 1)[1]) == {"error": "request body not received within 2 s"}


def test_a_long_text_does_not_hold_up_short_ones(server: str) -> None:
    long_text = ("\n\n".join(d.text for d in SEEDS) * 20)[:MAX_CHARS]
    short = SEEDS[1].text[:800]
    expected = post(server, {"text": short}).json()["entities"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        long_answer = pool.submit(post, server, {"text": long_text})
        time.sleep(0.3)  # the long text is being tagged
        answers = [post(server, {"text": short}) for _ in range(3)]
        short_done = time.monotonic() - started
        assert not long_answer.done(), "the long text was too quick to tell"
        assert long_answer.result().status_code == 200
        long_done = time.monotonic() - started
    assert [a.json()["entities"] for a in answers] == [expected] * 3
    print(f"3 short requests answered after {short_done:.2f} s, the long one after {long_done:.2f} s")


def test_lone_surrogates_are_read_as_replacement_characters(server: str, seed_model: Path) -> None:
    clean = SEEDS[0].text[:400]
    cut = clean.index(" ", 200)
    body = json.dumps({"text": clean[:cut] + " \ud800" + clean[cut:]})  # the escape "\ud800" on the wire
    assert "\\ud800" in body
    response = post(server, content=body.encode())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["warnings"] == ["text: 1 lone surrogate(s) (invalid Unicode) read as U+FFFD; offsets unchanged"]
    replaced = clean[:cut] + " \ufffd" + clean[cut:]
    assert answer["entities"] == predict(replaced, seed_model)
    batch = post(server, content=json.dumps({"texts": [clean, "x\udc00"]}).encode()).json()
    assert batch["warnings"] == ["texts[1]: 1 lone surrogate(s) (invalid Unicode) read as U+FFFD; offsets unchanged"]
    assert "warnings" not in post(server, {"text": clean}).json()
