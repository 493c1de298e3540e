"""`vner studio queue` and `vner studio retrain` / the backend's training event, on the real session server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from studio_fixtures import Studio, login_token, run_cli, serve_backend, studio_cli, studio_client

from annotation.client import StudioClient
from annotation.ml_backend import create_backend_app
from annotation.queue import QUEUE_ORDERING, QUEUE_VIEW
from annotation.retrain import RetrainPlan, merge_gold, retrain
from annotation.settings import BACKEND_USER, ENV_BACKEND_PASSWORD, BackendCredentials
from annotation.team import read_team
from annotation.uncertainty import uncertainty
from corpus.document import Document
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema
from models import load_model
from models.loading import latest_pointer

SEEDS = read_documents(BUNDLED_GOLD_FILE)
EXTRA = [Document(id=f"extra-{i}", text=text) for i, text in enumerate((
    "Ngày 3-4, Huyện ủy Hậu Lộc tổ chức hội nghị Ban Chấp hành Đảng bộ huyện lần thứ 15.",
    "Phó Chủ tịch UBND huyện Vũ Thị Hà trình bày kế hoạch năm 2024 tại xã Kim Song Trường.",
    "Thu ngân sách ước đạt 150 tỷ đồng, bằng 75% kế hoạch.",
))]


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _member(studio: Studio, email: str, role: str = "annotator") -> StudioClient:
    _ok(studio_cli(studio, "users", "add", email, "--role", role))
    password = read_team(Path(studio.env["VNER_LS_CONFIG"]).with_name("studio-team.toml"))[email].password
    token = login_token(studio.url, email, password)
    assert token
    return StudioClient(studio.url, token)


def _retrain_project(studio: Studio, tmp_path: Path, title: str) -> tuple[Path, Path]:
    """Project ``title`` with SEEDS[3] and EXTRA[1] as tasks; returns the base (three seeds) and dev gold files."""
    base, dev = tmp_path / "base.jsonl", tmp_path / "dev.jsonl"
    write_documents(base, SEEDS[:3])
    write_documents(dev, SEEDS[4:])
    write_documents(tmp_path / "tasks.jsonl", [SEEDS[3], EXTRA[1]])
    _ok(studio_cli(studio, "init", "--title", title))
    _ok(studio_cli(studio, "push", "--project", title, "--store", str(tmp_path / "tasks.jsonl")))
    return base, dev


def _annotate_as_gold(client: StudioClient, task_id: int, doc: Document) -> None:
    """Submit ``doc``'s gold spans as the annotation of task ``task_id``."""
    client.create_annotation(task_id, [
        {"from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": s.start, "end": s.end, "text": doc.text[s.start:s.end], "labels": [s.label]}}
        for s in doc.spans])


def _scores(client: StudioClient, project_id: int, version: str) -> dict[int, list[float]]:
    found: dict[int, list[float]] = {}
    for prediction in client.sdk.predictions.list(project=project_id):
        if prediction.model_version == version:
            found.setdefault(prediction.task, []).append(prediction.score)
    return found


def test_queue_orders_the_annotators_work_by_uncertainty(studio: Studio, seed_model: Path, tmp_path: Path) -> None:
    title = "vner test queue"
    _ok(studio_cli(studio, "init", "--title", title))
    _ok(studio_cli(studio, "push", "--project", title))  # the five seeds, no drafts
    model = load_model(seed_model)
    out = _ok(studio_cli(studio, "queue", "--project", title, "--model", str(seed_model)))
    assert "queued 5 tasks by uncertainty (margin)" in out and QUEUE_VIEW in out

    with studio_client(studio) as admin:
        project_id = admin.project_id(title)
        project = admin.get_project(project_id)
        assert project.model_version == model.version and project.sampling == "Sequential sampling"
        texts = dict(admin.iter_tasks(project_id))
        scores = _scores(admin, project_id, model.version)
        assert sorted(scores) == sorted(texts) and all(len(s) == 1 for s in scores.values())
        expected = dict(zip(texts, uncertainty(model, [data["text"] for data in texts.values()]), strict=True))
        for task_id, [value] in scores.items():
            assert value == pytest.approx(expected[task_id], abs=1e-5)
        views = admin.request("GET", "api/dm/views", params={"project": project_id})
        assert views[0]["data"]["title"] == QUEUE_VIEW and views[0]["data"]["ordering"] == QUEUE_ORDERING
        view_id = views[0]["id"]
        # The Data Manager's own task list in that tab: highest score first.
        listed = admin.request("GET", "api/tasks", params={"project": project_id, "view": view_id,
                                                           "fields": "all"})["tasks"]
        by_score = sorted(texts, key=lambda t: -expected[t])
        assert [t["id"] for t in listed] == by_score

    # An annotator labeling "as displayed" gets the tasks in that order.
    served = []
    with _member(studio, "queue-ann@vner.test") as annotator:
        for _ in range(len(texts)):
            task = annotator.request("GET", f"api/projects/{project_id}/next", params={"view": view_id})
            served.append(task["id"])
            annotator.request("POST", f"api/tasks/{task['id']}/annotations", json={"result": [], "was_cancelled": True})
    assert served == by_score

    # Store documents: only the most useful new one is pushed with --limit; re-queueing keeps one draft per task.
    store = tmp_path / "store.jsonl"
    write_documents(store, [*EXTRA, SEEDS[0]])  # a seed already in the project is not pushed again
    again = _ok(studio_cli(studio, "queue", "--project", title, "--model", str(seed_model), "--store", str(store),
                           "--limit", "1"))
    assert "1 new" in again and "2 store documents beyond --limit were not pushed" in again
    with studio_client(studio) as admin:
        tasks = dict(admin.iter_tasks(project_id))
        [new_id] = [t for t in tasks if t not in texts]
        best_extra = max(EXTRA, key=lambda d: uncertainty(model, [d.text])[0])
        assert tasks[new_id]["doc_id"] == best_extra.id
        assert all(len(s) == 1 for s in _scores(admin, project_id, model.version).values())

    bad = studio_cli(studio, "queue", "--project", title, "--model", "rules")
    assert bad.exit_code == 1 and "no probabilities" in bad.output
    assert studio_cli(studio, "queue", "--project", title, "--model", str(seed_model), "--strategy", "x").exit_code == 2


# ----------------------------------------------------------------------------- retraining


def test_merge_gold_matches_by_text_and_never_trains_on_dev() -> None:
    base = [SEEDS[0], SEEDS[1], SEEDS[2]]
    relabeled = Document(id="task-77", text=SEEDS[1].text, spans=SEEDS[1].spans[:1])
    merged, counts = merge_gold(base, [relabeled, SEEDS[3]], dev=[SEEDS[2], SEEDS[3]])
    assert [d.id for d in merged] == [SEEDS[0].id, "task-77"]
    assert merged[1].spans == SEEDS[1].spans[:1]  # the project's (newer) annotation wins
    assert (counts.base, counts.studio, counts.replaced, counts.dev_left_out) == (1, 1, 1, 2)


@pytest.fixture(scope="module")
def weak_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that learned next to nothing: one epoch on one short seed paragraph."""
    from training import train_model

    home = tmp_path_factory.mktemp("weak")
    doc = SEEDS[0]
    first = min(doc.spans)
    cut = doc.text.index("\n") if "\n" in doc.text else len(doc.text)
    train = home / "train.jsonl"
    write_documents(train, [Document("weak", doc.text[:max(cut, first.end)],
                                     spans=[s for s in doc.spans if s.end <= max(cut, first.end)])])
    write_documents(home / "dev.jsonl", SEEDS[4:])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VNER_HOME", str(home))
        train_model("spacy", load_schema(), train, home / "dev.jsonl", home / "model", max_epochs=1, seed=1)
    return home / "model"


def test_start_training_retrains_in_the_background_and_swaps_the_model(
    studio: Studio, weak_model: Path, tmp_path: Path
) -> None:
    title = "vner test retrain"
    base, dev = _retrain_project(studio, tmp_path, title)
    credentials = BackendCredentials(BACKEND_USER, "retrain-test-password", "test")
    plan = RetrainPlan(base, dev, "spacy", {"max_epochs": 3, "seed": 1}, out_root=tmp_path / "runs")
    app = create_backend_app(weak_model, credentials=credentials, retrain_plan=plan, project_title=title,
                             studio=lambda: StudioClient(studio.url, studio.credentials.token))
    old = app.state.model_version
    env = {**studio.env, ENV_BACKEND_PASSWORD: credentials.password}
    with serve_backend(app) as url, studio_client(studio) as admin, \
            httpx.Client(base_url=url, auth=(BACKEND_USER, credentials.password), trust_env=False, timeout=30) as http:
        project_id = admin.project_id(title)
        by_doc = admin.task_index(project_id).by_doc_id
        _annotate_as_gold(admin, by_doc[SEEDS[3].id], SEEDS[3])
        _ok(run_cli(["studio", "connect", "--url", url, "--project", title, "--port", str(studio.settings.port)], env))
        [ml] = admin.sdk.ml.list(project=project_id)
        assert http.get("/health").json()["training"] == {"state": "idle", "runs": 0}

        admin.sdk.ml.train(ml.id)  # the "Start Training" button: START_TRAINING to <url>/webhook
        assert http.get("/health").json()["training"]["state"] == "running"
        busy = http.post("/train")
        assert busy.status_code == 409 and busy.json()["state"] == "busy"  # one at a time
        began = time.monotonic()
        while (state := http.get("/health").json()["training"])["state"] == "running":
            assert time.monotonic() - began < 600, "retraining did not finish"
            time.sleep(1)
        assert state["state"] == "done", state
        result = state["result"]
        assert result["promoted"] and result["documents"]["studio"] == 1 and result["documents"]["base"] == 3
        assert result["f1_after"] >= result["f1_before"]

        health = http.get("/health").json()
        assert health["model_version"] == result["model_version"] != old  # swapped without a restart
        assert health["model_path"] == str(Path(result["model_dir"]).resolve())
        answer = http.post("/predict", json={"tasks": [{"id": 1, "data": {"text": EXTRA[0].text}}]}).json()
        assert answer["model_version"] == result["model_version"]
        assert admin.sdk.ml.get(ml.id).title == result["model_version"]
        assert admin.get_project(project_id).model_version == result["model_version"]
        unlabeled = by_doc[EXTRA[1].id]
        assert unlabeled in _scores(admin, project_id, result["model_version"])  # the queue was re-ranked
        assert latest_pointer().read_text().strip() == str(Path(result["model_dir"]).resolve())


def test_retrain_command_hot_reloads_the_connected_backend(studio: Studio, weak_model: Path, tmp_path: Path) -> None:
    """`vner studio retrain` beats the model the backend serves, which then serves the new one without a restart."""
    title = "vner test retrain command"
    base, dev = _retrain_project(studio, tmp_path, title)
    credentials = BackendCredentials(BACKEND_USER, "retrain-command-password", "test")
    app = create_backend_app(weak_model, credentials=credentials)  # no training plan: the command trains
    old = app.state.model_version
    env = {**studio.env, ENV_BACKEND_PASSWORD: credentials.password}
    port = ["--port", str(studio.settings.port)]
    with serve_backend(app) as url, studio_client(studio) as admin, \
            httpx.Client(base_url=url, auth=(BACKEND_USER, credentials.password), trust_env=False, timeout=30) as http:
        project_id = admin.project_id(title)
        by_doc = admin.task_index(project_id).by_doc_id
        _annotate_as_gold(admin, by_doc[SEEDS[3].id], SEEDS[3])
        _ok(run_cli(["studio", "connect", "--url", url, "--project", title, *port], env))
        [ml] = admin.sdk.ml.list(project=project_id)
        assert ml.title == old

        out = _ok(run_cli(["studio", "retrain", "--project", title, "--base", str(base), "--dev", str(dev),
                           "--train-option", "max_epochs=3", "--train-option", "seed=1", *port], env))
        assert f"current model: {weak_model.resolve()}" in out  # the model the backend serves, by default
        assert "PROMOTED" in out, out
        new = http.get("/health").json()["model_version"]
        assert new != old and f"ML backend {ml.id} ({url}) now serves {new}" in out
        answer = http.post("/predict", json={"tasks": [{"id": 1, "data": {"text": EXTRA[0].text}}]}).json()
        assert answer["model_version"] == new
        assert admin.sdk.ml.get(ml.id).title == new and admin.get_project(project_id).model_version == new
        assert by_doc[EXTRA[1].id] in _scores(admin, project_id, new)  # the queue was re-ranked
        assert f"queue re-ranked by uncertainty with {new}" in out


def test_a_worse_model_is_not_promoted(studio: Studio, seed_model: Path, tmp_path: Path) -> None:
    """Current: the rules engine (it finds dates and figures); new: one epoch on one sentence."""
    title = "vner test no promotion"
    dev = tmp_path / "dev.jsonl"
    write_documents(dev, SEEDS[4:])
    short = SEEDS[0]
    base = tmp_path / "base.jsonl"
    first = min(short.spans)
    write_documents(base, [Document("tiny", short.text[:first.end + 1], spans=[first])])
    _ok(studio_cli(studio, "init", "--title", title))
    latest_pointer().parent.mkdir(parents=True, exist_ok=True)
    latest_pointer().write_text(f"{seed_model.resolve()}\n")
    with studio_client(studio) as client:
        project_id = client.project_id(title)
        result = retrain(client, project_id, RetrainPlan(base, dev, "spacy", {"max_epochs": 1, "seed": 1},
                                                          out_root=tmp_path / "runs"), "rules")
    assert result.before["micro"]["f1"] > result.after["micro"]["f1"]
    assert not result.promoted and "<" in result.reason
    assert latest_pointer().read_text().strip() == str(seed_model.resolve())  # the default stays
    assert (result.model_dir / "vner-model.json").is_file()  # written, just not promoted

    out = _ok(studio_cli(studio, "retrain", "--project", title, "--base", str(base), "--dev", str(dev),
                         "--current", "rules", "--train-option", "max_epochs=1"))
    assert re.search(r"not promoted: dev F1 [\d.]+ < [\d.]+", out) and "micro" in out
    missing = studio_cli(studio, "retrain", "--project", title, "--base", str(tmp_path / "nope.jsonl"),
                         "--dev", str(dev))
    assert missing.exit_code == 2 and "no such file" in missing.output
