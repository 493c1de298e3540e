"""The Label Studio ML backend (``vner studio backend`` / ``connect``), against real servers (no mocks).

The backend serves the session's seed model with uvicorn on a free loopback port, in a thread of
this process, behind HTTP basic auth; the Label Studio of the ``studio`` fixture calls it over HTTP
exactly as it calls any ML backend (/health, /setup, /predict, /webhook), with the credential
`vner studio connect` registered.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from studio_fixtures import Studio, run_cli, serve_backend, studio_client

from annotation.labeling_config import FROM_NAME, TO_NAME, labeling_config
from annotation.ml_backend import MODEL_CLASS, create_backend_app
from annotation.settings import BACKEND_USER, ENV_BACKEND_PASSWORD, BackendCredentials
from annotation.tasks import is_relation_item
from corpus.document import Span
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import LabelSchema, load_schema
from corpus.spans import validate_spans
from models import load_model, predict

SCHEMA = load_schema()
CONFIG = labeling_config(SCHEMA)
TEXT_A = "Ngày 3-4, Huyện ủy Hậu Lộc tổ chức hội nghị Ban Chấp hành Đảng bộ huyện lần thứ 15."
TEXT_B = "Phó Chủ tịch UBND huyện Vũ Thị Hà trình bày kế hoạch năm 2024 tại xã Kim Song Trường."


@dataclass
class Backend:
    url: str
    app: FastAPI
    credentials: BackendCredentials

    @property
    def version(self) -> str:
        return self.app.state.model_version

    @property
    def stats(self):
        return self.app.state.stats


def make_credentials() -> BackendCredentials:
    return BackendCredentials(BACKEND_USER, secrets.token_urlsafe(16), "test")


@pytest.fixture(scope="module")
def backend(seed_model: Path) -> Iterator[Backend]:
    """``create_backend_app(seed_model)`` with basic auth; stopped at the end of the module."""
    credentials = make_credentials()
    app = create_backend_app(seed_model, credentials=credentials)
    with serve_backend(app) as url:
        yield Backend(url, app, credentials)


@pytest.fixture
def http(backend: Backend) -> Iterator[httpx.Client]:
    auth = (backend.credentials.username, backend.credentials.password)
    with httpx.Client(base_url=backend.url, timeout=60, trust_env=False, auth=auth) as client:
        yield client


def test_requests_without_the_credential_get_401(backend: Backend) -> None:
    body = {"tasks": [_task(1, TEXT_A)], "label_config": CONFIG}
    requests = backend.stats["requests"]
    with httpx.Client(base_url=backend.url, timeout=30, trust_env=False) as anonymous:
        for response in (anonymous.post("/predict", json=body), anonymous.get("/health"),
                         anonymous.post("/webhook", json={"action": "START_TRAINING"}),
                         anonymous.post("/reload", json={"model": "rules"}),
                         anonymous.post("/predict", json=body, auth=(BACKEND_USER, "wrong-password"))):
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"].startswith("Basic")
            assert "basic auth" in response.json()["error"]
    assert backend.stats["requests"] == requests and backend.version == backend.app.state.model_version
    with httpx.Client(base_url=backend.url, timeout=60, trust_env=False,
                      auth=(backend.credentials.username, backend.credentials.password)) as allowed:
        assert allowed.post("/predict", json=body).status_code == 200


def _expected(text: str, model) -> list[Span]:
    """What the backend must predict for ``text``: ``models.predict``, minus spans breaking the span rules."""
    found = [Span(e["start"], e["end"], e["label"]) for e in predict(text, model)]
    return validate_spans(text, found, SCHEMA)[0]


def _spans(result: list[dict]) -> list[Span]:
    return [Span(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in _regions(result)]


def _regions(result: list[dict]) -> list[dict]:
    return [r for r in result if not is_relation_item(r)]


def _arrows(result: list[dict]) -> list[tuple[str, str, str]]:
    """(head text, type, tail text) of each relation item, after checking it points at regions of ``result``."""
    regions = {r["id"]: r for r in _regions(result)}
    arrows = []
    for item in filter(is_relation_item, result):
        assert item["from_id"] in regions and item["to_id"] in regions, item
        assert item["direction"] == "right" and len(item["labels"]) == 1, item
        head, tail = regions[item["from_id"]]["value"], regions[item["to_id"]]["value"]
        arrows.append((head["text"], item["labels"][0], tail["text"]))
    return arrows


def _task(task_id: int, text: str, key: str = TO_NAME) -> dict:
    """A task as Label Studio serializes it for /predict."""
    return {"id": task_id, "data": {key: text, "doc_id": f"d{task_id}"}, "annotations": [], "predictions": [],
            "project": 1, "meta": {}, "is_labeled": False}


# ----------------------------------------------------------------------------- the protocol, directly


def test_health_setup_and_versions(http: httpx.Client, backend: Backend, seed_model: Path) -> None:
    assert backend.version == load_model(seed_model).version
    health = http.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "UP" and health.json()["model_class"] == MODEL_CLASS
    setup = {"project": "7.1700000000", "schema": CONFIG, "hostname": "http://localhost:8080",
             "access_token": "not-logged", "extra_params": None}
    answer = http.post("/setup", json=setup)
    assert answer.status_code == 200 and answer.json() == {"model_version": backend.version}
    assert http.get("/versions").json()["versions"] == [backend.version]


def test_predict_tasks_in_order(http: httpx.Client, backend: Backend, seed_model: Path) -> None:
    seen = read_documents(BUNDLED_GOLD_FILE)[1].text  # a text the seed model was trained on: it finds entities
    texts = (TEXT_B, TEXT_A, seen)
    body = {"tasks": [_task(11 + i, text) for i, text in enumerate(texts)], "label_config": CONFIG,
            "project": "7.1700000000", "params": {"login": None, "password": None, "context": None}}
    answer = http.post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 3
    for text, prediction in zip(texts, results, strict=True):
        assert prediction["model_version"] == backend.version
        assert _spans(prediction["result"]) == _expected(text, seed_model)
        for region in _regions(prediction["result"]):
            assert (region["from_name"], region["to_name"], region["type"]) == (FROM_NAME, TO_NAME, "labels")
            assert region["value"]["text"] == text[region["value"]["start"]:region["value"]["end"]]
        _arrows(prediction["result"])  # any arrow links two regions of the same result
    assert results[2]["result"]  # regions, not only empty answers

    # The text is read from the data key the <Text name="text"> object names.
    renamed = CONFIG.replace(f'value="${TO_NAME}"', 'value="$content"')
    answer = http.post("/predict", json={"tasks": [_task(13, seen, key="content")], "label_config": renamed})
    assert answer.status_code == 200 and answer.json()["results"] == results[2:]


def test_malformed_requests_get_json_errors(http: httpx.Client, seed_model: Path) -> None:
    def error(response: httpx.Response, status: int) -> str:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response.json()["error"]

    assert "not valid JSON" in error(
        http.post("/predict", content=b'{"tasks": [', headers={"content-type": "application/json"}), 400
    )
    assert "tasks" in error(http.post("/predict", json={"tasks": "nope"}), 422)
    assert "tasks[0].data" in error(http.post("/predict", json={"tasks": [{"id": 1}]}), 422)
    assert 'data["text"]' in error(http.post("/predict", json={"tasks": [{"id": 1, "data": {"body": "x"}}]}), 422)
    assert "no <Labels" in error(http.post("/setup", json={"schema": '<View><Text name="text" value="$text"/></View>'}),
                                 422)
    assert "not XML" in error(http.post("/predict", json={"tasks": [], "label_config": "<View"}), 422)
    assert "not valid JSON" in error(http.post("/webhook", content=b"{nope"), 400)
    assert error(http.post("/train", json={}), 501)

    small = TestClient(create_backend_app(seed_model, max_body_bytes=1000))
    assert "too large" in error(small.post("/predict", json={"tasks": [_task(1, "x" * 2000)]}), 413)


def test_rules_engine_backend() -> None:
    app = create_backend_app("rules")
    assert app.state.model_version.startswith("rules@")
    with TestClient(app) as client:
        assert client.post("/setup", json={"schema": CONFIG}).json() == {"model_version": app.state.model_version}
        [prediction] = client.post("/predict", json={"tasks": [_task(1, TEXT_B)], "label_config": CONFIG}).json()[
            "results"
        ]
    assert _spans(prediction["result"]) == _expected(TEXT_B, "rules") != []


def _config(**schema_changes) -> str:
    """The labeling config of the label schema with some of its parts replaced (``labels``, ``relations``)."""
    fields = {"name": SCHEMA.name, "labels": SCHEMA.labels, "relations": SCHEMA.relations} | schema_changes
    return labeling_config(LabelSchema(**fields))


def test_predict_sends_relation_arrows_only_to_a_config_with_relations() -> None:
    holds = ("Vũ Thị Hà", "HOLDS", "Phó Chủ tịch UBND huyện")
    assert "<Relations" in CONFIG and '<Relation value="HOLDS"' in CONFIG
    with TestClient(create_backend_app("rules")) as client:
        def predict_with(config: str) -> list[dict]:
            answer = client.post("/predict", json={"tasks": [_task(1, TEXT_B)], "label_config": config})
            assert answer.status_code == 200, answer.text
            [prediction] = answer.json()["results"]
            return prediction["result"]

        result = predict_with(CONFIG)
        assert _arrows(result) == [holds]  # the rules' HOLDS arrow, between two regions of the same list
        assert _spans(result) == _expected(TEXT_B, "rules")
        assert client.app.state.stats["relations"] == 1

        without = predict_with(_config(relations=()))
        assert "<Relations" not in _config(relations=())
        assert not [item for item in without if is_relation_item(item)] and without == _regions(result)

        # Only the types the config lists, only between regions of the labels it offers.
        assert _arrows(predict_with(_config(relations=tuple(r for r in SCHEMA.relations if r.name != "HOLDS")))) == []
        no_post = predict_with(_config(labels=tuple(label for label in SCHEMA.labels if label.name != "POSITION")))
        assert _arrows(no_post) == [] and _regions(no_post) and "POSITION" not in {s.label for s in _spans(no_post)}

        # Without a config (not Label Studio): every relation type of the schema, as a pushed draft has.
        [bare] = client.post("/predict", json={"tasks": [_task(1, TEXT_B)]}).json()["results"]
        assert bare["result"] == result


# ----------------------------------------------------------------------------- Label Studio calls it


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _cli(studio: Studio, backend: Backend, *args: str):
    """`vner studio ...` with the backend's credential in the environment, as the person running both has."""
    env = {**studio.env, ENV_BACKEND_PASSWORD: backend.credentials.password}
    return run_cli(["studio", *args, "--port", str(studio.settings.port)], env)


def _predictions(client, project_id: int) -> dict[int, list[dict]]:
    return {task["id"]: task["predictions"] for task in client.export(project_id)}


def test_label_studio_retrieves_predictions_from_the_backend(
    studio: Studio, backend: Backend, http: httpx.Client, seed_model: Path, tmp_path: Path
) -> None:
    title = "vner test ml backend"
    docs = read_documents(BUNDLED_GOLD_FILE)[:2]
    write_documents(tmp_path / "two.jsonl", docs)
    with studio_client(studio) as client:
        _ok(_cli(studio, backend, "init", "--title", title))
        project_id = client.project_id(title)
        assert "added 2 tasks" in _ok(_cli(studio, backend, "push", "--project", title, "--store",
                                           str(tmp_path / "two.jsonl")))
        before = _predictions(client, project_id)
        assert len(before) == 2 and all(preds == [] for preds in before.values())
        first, second = sorted(before)

        wrong = run_cli(["studio", "connect", "--url", backend.url, "--project", title, "--port",
                         str(studio.settings.port)], {**studio.env, ENV_BACKEND_PASSWORD: "not-the-password"})
        assert wrong.exit_code == 1 and "refuses the backend credential (401)" in wrong.output
        out = _ok(_cli(studio, backend, "connect", "--url", backend.url, "--project", title))
        assert "added ML backend" in out and backend.version in out
        [ml] = client.sdk.ml.list(project=project_id)
        assert (ml.url, ml.title, ml.model_version, ml.is_interactive) == (
            backend.url, backend.version, backend.version, False)
        assert ml.state == "CO"  # connected: /health and /setup answered, with the credential
        assert (ml.auth_method, ml.basic_auth_user, ml.basic_auth_pass_is_set) == ("BASIC_AUTH", BACKEND_USER, True)
        [hook] = [h for h in client.sdk.webhooks.list(project=str(project_id)) if h.url == f"{backend.url}/webhook"]
        assert hook.headers["Authorization"].startswith("Basic ")
        assert client.get_project(project_id).model_version == backend.version

        # The server itself asks the backend (Data Manager action "Retrieve Predictions"), first task only.
        predicted = backend.stats["tasks"]
        client.sdk.actions.create(id="retrieve_tasks_predictions", project=project_id,
                                  selected_items={"all": False, "included": [first]})
        got = _predictions(client, project_id)
        assert len(got[first]) == 1 and got[second] == []
        assert backend.stats["tasks"] == predicted + 1

        # connect again: same backend updated, not a second one; --retrieve sends every task, and
        # Label Studio skips the one that already has a prediction of this model version: the
        # report says what was fetched, not what was asked for.
        out = _ok(_cli(studio, backend, "connect", "--url", backend.url, "--project", title, "--retrieve"))
        assert "updated ML backend" in out
        assert "fetched predictions for 1 of 2 tasks from the backend; 1 already had one of this version" in out
        assert [b.id for b in client.sdk.ml.list(project=project_id)] == [ml.id]
        assert backend.stats["tasks"] == predicted + 2
        again = _ok(_cli(studio, backend, "connect", "--url", backend.url, "--project", title, "--retrieve"))
        assert "fetched predictions for 0 of 2 tasks from the backend; 2 already had one" in again
        assert backend.stats["tasks"] == predicted + 2  # nothing was asked of the backend

        texts = {task["id"]: task["data"]["text"] for task in client.export(project_id)}
        arrows = 0
        for task_id, predictions in _predictions(client, project_id).items():
            [prediction] = predictions
            assert prediction["model_version"] == backend.version
            assert _spans(prediction["result"]) == _expected(texts[task_id], seed_model)
            assert all(r["value"]["text"] == texts[task_id][r["value"]["start"]:r["value"]["end"]]
                       for r in _regions(prediction["result"]))
            # The project's config (`vner studio init`) has <Relations>: Label Studio keeps the arrows sent.
            [sent] = http.post("/predict", json={"tasks": [_task(task_id, texts[task_id])],
                                                 "label_config": CONFIG}).json()["results"]
            assert _arrows(prediction["result"]) == _arrows(sent["result"])
            arrows += len(_arrows(prediction["result"]))
        assert any(predictions[0]["result"] for predictions in _predictions(client, project_id).values())
        assert arrows  # the seed model, trained on these articles, links their officials to their posts

        # Adding the backend registered <url>/webhook, with the credential: a submitted annotation is reported.
        seen = backend.app.state.events["ANNOTATION_CREATED"]
        client.create_annotation(first, _predictions(client, project_id)[first][0]["result"])
        assert backend.app.state.events["ANNOTATION_CREATED"] == seen + 1


def test_backend_command_checks_its_training_options(tmp_path: Path) -> None:
    env = {"VNER_HOME": str(tmp_path), "VNER_LS_CONFIG": str(tmp_path / "studio.toml")}
    half = run_cli(["studio", "backend", "--model", "rules", "--train-base", str(BUNDLED_GOLD_FILE)], env)
    assert half.exit_code == 2 and "--train-base and --train-dev go together" in half.output
    missing = run_cli(["studio", "backend", "--model", "rules", "--train-base", str(BUNDLED_GOLD_FILE),
                       "--train-dev", str(tmp_path / "nope.jsonl")], env)
    assert missing.exit_code == 2 and "nope.jsonl: no such file" in missing.output
    engine = run_cli(["studio", "backend", "--model", "rules", "--engine", "crf"], env)
    assert engine.exit_code == 2 and "--engine must be one of" in engine.output
