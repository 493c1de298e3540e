"""An annotator in a real browser (headless Debian chromium through Playwright) on the session server:
their own login, the queue tab in score order, the drafts as regions, no empty submission."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from studio_fixtures import Studio, studio_cli, studio_client

from annotation.queue import QUEUE_VIEW
from annotation.team import read_team
from corpus.document import Document
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="Debian's chromium is not installed (`make install` installs it when run as root); "
           "this test never downloads a browser",
)

QUIET = "Chào mừng bạn đọc."  # nothing to mark: its draft is empty


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_an_annotator_labels_the_queue_in_score_order_from_the_drafts(
    studio: Studio, seed_model: Path, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    title = "vner test browser"
    store = tmp_path / "store.jsonl"
    write_documents(store, [*read_documents(BUNDLED_GOLD_FILE)[:2], Document(id="quiet", text=QUIET)])
    _ok(studio_cli(studio, "init", "--title", title))
    _ok(studio_cli(studio, "push", "--project", title, "--store", str(store)))
    _ok(studio_cli(studio, "queue", "--project", title, "--model", str(seed_model)))
    email = "browser-ann@vner.test"
    _ok(studio_cli(studio, "users", "add", email))
    password = read_team(Path(studio.env["VNER_LS_CONFIG"]).with_name("studio-team.toml"))[email].password

    with studio_client(studio) as admin:
        project_id = admin.project_id(title)
        version = admin.get_project(project_id).model_version
        drafts = {p.task: p for p in admin.sdk.predictions.list(project=project_id) if p.model_version == version}
        expected = sorted(drafts, key=lambda task: -drafts[task].score)
        texts = dict(admin.iter_tasks(project_id))
        view_id = admin.request("GET", "api/dm/views", params={"project": project_id})[0]["id"]
    assert texts[expected[-1]]["doc_id"] == "quiet" and drafts[expected[-1]].result == []
    assert all(drafts[task].result for task in expected[:-1])

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            served: list[int] = []
            submitted: list[str] = []
            page.on("response", lambda r: served.append(r.json()["id"]) if "id=next_task" in r.url and r.ok else None)
            page.on("request", lambda r: submitted.append(r.url) if r.method == "POST" and "/annotations" in r.url
                    else None)

            page.goto(f"{studio.url}/user/login/")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{studio.url}/projects/{project_id}/data?tab={view_id}")
            page.get_by_role("button", name="Label All Tasks").wait_for(timeout=120_000)
            assert QUEUE_VIEW[:12] in page.locator("body").inner_text()

            page.locator("button:right-of(:text('Label All Tasks'))").first.click()
            page.get_by_text("Label Tasks As Displayed").click()
            close = page.locator('[aria-label="Close modal"]')  # the guidelines open first
            close.wait_for(timeout=120_000)
            close.click()
            submit = page.locator('[aria-label="Submit current annotation"]')
            for position, task in enumerate(expected):
                page.wait_for_function(f"() => document.body.innerText.includes({texts[task]['text'][:30]!r})",
                                       timeout=120_000)
                assert served[-1] == task, f"served {served}, queue {expected}"
                regions = page.locator(".htx-highlight")
                marked = sorted(regions.all_inner_texts())
                assert marked == sorted(r["value"]["text"] for r in drafts[task].result)
                if position < len(expected) - 1:
                    submit.click()
                    page.wait_for_function(f"() => !document.body.innerText.includes({texts[task]['text'][:30]!r})",
                                           timeout=120_000)
            # The last draft is empty: the project refuses empty submissions, so Submit stays disabled.
            assert submit.is_disabled()
            assert len(submitted) == len(expected) - 1
            with studio_client(studio) as admin:
                admin.sdk.projects.update(project_id, enable_empty_annotation=True)
                page.reload()
                page.locator('[aria-label="Close modal"]').click(timeout=120_000)
                page.wait_for_function(f"() => document.body.innerText.includes({QUIET[:10]!r})", timeout=120_000)
                assert submit.is_enabled()  # it was the setting
                admin.sdk.projects.update(project_id, enable_empty_annotation=False)
        finally:
            browser.close()
    with studio_client(studio) as admin:
        annotated = {a["task"] for t in expected for a in admin.annotations(t)}
    assert annotated == set(expected[:-1])
