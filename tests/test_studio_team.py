"""The annotation team on the real session server: accounts, closed sign-up, SSRF limits, overlap,
agreement, review and the defects found by a new user (duplicates, paging, remembered port)."""

from __future__ import annotations

import ast
import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from studio_fixtures import Studio, login_token, run_cli, studio_cli, studio_client

from annotation import server
from annotation.client import StudioClient, StudioClientError
from annotation.export import DISPUTED, convert_export
from annotation.labeling_config import FROM_NAME, TO_NAME
from annotation.settings import load_settings
from annotation.tasks import relation_item
from annotation.team import read_team, sign_up
from corpus.document import Document, Relation, Span
from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema

TEXT = ("Ngày 3-4, Huyện ủy Hậu Lộc tổ chức hội nghị Ban Chấp hành Đảng bộ huyện lần thứ 15.\n\n"
        "Đồng chí Hoàng Anh Tuấn, Bí thư Huyện ủy, Chủ tịch HĐND huyện phát biểu tại hội nghị.")


def _span(surface: str, label: str) -> Span:
    start = TEXT.index(surface)
    return Span(start, start + len(surface), label)


# Two annotators of TEXT: B moves a DATE boundary, misses a UNIT and calls part of a POSITION a UNIT.
FIRST = [_span("Ngày 3-4", "DATE"), _span("Huyện ủy Hậu Lộc", "UNIT"), _span("Ban Chấp hành Đảng bộ huyện", "UNIT"),
         _span("Hoàng Anh Tuấn", "OFFICIAL"), _span("Bí thư Huyện ủy", "POSITION"),
         _span("Chủ tịch HĐND huyện", "POSITION")]
SECOND = [_span("3-4", "DATE"), _span("Huyện ủy Hậu Lộc", "UNIT"), _span("Hoàng Anh Tuấn", "OFFICIAL"),
          _span("Bí thư Huyện ủy", "POSITION"), _span("HĐND huyện", "UNIT")]


def _result(text: str, spans: list[Span]) -> list[dict]:
    return [{"id": f"r{s.start}-{s.end}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
             "value": {"start": s.start, "end": s.end, "text": text[s.start:s.end], "labels": [s.label]}}
            for s in spans]


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


@dataclass
class Member:
    email: str
    password: str
    token: str
    user_id: int


@pytest.fixture(scope="module")
def team(studio: Studio) -> dict[str, Member]:
    """Two annotators and a reviewer, made with `vner studio users add` (module-wide: accounts stay)."""
    members = {}
    for key, role in (("ann1", "annotator"), ("ann2", "annotator"), ("rev", "reviewer")):
        email = f"{key}-team@vner.test"
        out = _ok(studio_cli(studio, "users", "add", email, "--role", role))
        assert f"created {email}" in out
        stored = read_team(Path(studio.env["VNER_LS_CONFIG"]).with_name("studio-team.toml"))[email]
        assert stored.password not in out  # never printed without --show-password
        token = login_token(studio.url, email, stored.password)
        assert token, f"{email} cannot log in with the stored password"
        members[key] = Member(email, stored.password, token, stored.user_id)
    return members


def _as(studio: Studio, member: Member) -> StudioClient:
    return StudioClient(studio.url, member.token)


# ----------------------------------------------------------------------------- access


def test_sign_up_without_an_invitation_fails(studio: Studio) -> None:
    stranger = "stranger@elsewhere.test"
    assert sign_up(studio.url, None, stranger, "Correct-Horse-42") == 403
    assert sign_up(studio.url, "not-the-invite-token", stranger, "Correct-Horse-42") == 403
    with studio_client(studio) as admin:
        assert stranger not in {u.email for u in admin.sdk.users.list()}
    assert login_token(studio.url, stranger, "Correct-Horse-42") is None


def test_users_add_and_list_keep_passwords_private(studio: Studio, team: dict[str, Member]) -> None:
    team_file = Path(studio.env["VNER_LS_CONFIG"]).with_name("studio-team.toml")
    assert stat.S_IMODE(team_file.stat().st_mode) == 0o600
    listed = _ok(studio_cli(studio, "users", "list"))
    for member in team.values():
        assert member.email in listed and member.password not in listed
    assert re.search(r"rev-team@vner\.test\s+reviewer", listed)
    assert re.search(r"ann1-team@vner\.test\s+annotator", listed)
    assert re.search(rf"{re.escape(studio.credentials.username)}\s+admin", listed)
    with _as(studio, team["ann1"]) as ann1:
        assert ann1.whoami() == team["ann1"].email

    shown = _ok(studio_cli(studio, "users", "add", "shown-team@vner.test", "--show-password"))
    password = read_team(team_file)["shown-team@vner.test"].password
    assert f"password: {password}" in shown
    assert "is now reviewer" in _ok(studio_cli(studio, "users", "add", "shown-team@vner.test", "--role", "reviewer"))
    assert read_team(team_file)["shown-team@vner.test"].role == "reviewer"

    boss = studio_cli(studio, "users", "add", "boss-team@vner.test", "--role", "boss")
    assert boss.exit_code == 1 and "unknown role 'boss'" in boss.output
    bad = studio_cli(studio, "users", "add", "not-an-address")
    assert bad.exit_code == 1 and "not an e-mail address" in bad.output and "Traceback" not in bad.output
    admin_again = studio_cli(studio, "users", "add", studio.credentials.username)
    assert admin_again.exit_code == 1 and "did not create" in admin_again.output


def test_banned_networks_are_label_studios_minus_loopback() -> None:
    import label_studio.core.utils.io as io

    tree = ast.parse(Path(io.__file__).read_text(encoding="utf-8"))
    function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "validate_ip")
    assigned = next(n for n in ast.walk(function) if isinstance(n, ast.Assign)
                    and getattr(n.targets[0], "id", "") == "default_banned_subnets")
    defaults = set(ast.literal_eval(assigned.value))
    assert set(server.LOOPBACK_SUBNETS) <= defaults
    assert set(server.BANNED_SUBNETS) == defaults - set(server.LOOPBACK_SUBNETS)


def test_the_server_still_refuses_private_networks(studio: Studio) -> None:
    from label_studio_sdk.core.api_error import ApiError

    with studio_client(studio) as client:
        _ok(studio_cli(studio, "init", "--title", "vner test ssrf"))
        project_id = client.project_id("vner test ssrf")
        for url in ("http://10.20.30.40:9090", "http://169.254.169.254/latest", "http://192.168.1.1:80"):
            with pytest.raises(ApiError) as refused:
                client.sdk.ml.create(url=url, project=project_id, title="x")
            body = str(refused.value.body)
            assert refused.value.status_code == 403 and ("reserved network" in body or "not allowed" in body), body
            with pytest.raises(ApiError):
                client.sdk.webhooks.create(url=f"{url}/webhook", project=project_id)
        hook = client.sdk.webhooks.create(url="http://127.0.0.1:9/webhook", project=project_id)  # loopback: allowed
        client.sdk.webhooks.delete(hook.id)


# ----------------------------------------------------------------------------- overlap, agreement, review


def test_two_annotators_then_agreement_review_and_ground_truth(
    studio: Studio, team: dict[str, Member], tmp_path: Path
) -> None:
    title = "vner test team"
    out = _ok(studio_cli(studio, "init", "--title", title, "--overlap", "2"))
    assert "created project" in out
    store = tmp_path / "docs.jsonl"
    write_documents(store, [Document(id="team-1", text=TEXT), Document(id="team-2", text=TEXT + "\n\nThêm một câu.")])
    _ok(studio_cli(studio, "push", "--project", title, "--store", str(store)))
    with studio_client(studio) as admin:
        project_id = admin.project_id(title)
        project = admin.get_project(project_id)
        assert project.maximum_annotations == 2 and project.enable_empty_annotation is False
        first_task = admin.task_index(project_id).by_doc_id["team-1"]

    # Overlap in Community: the second annotator is served the task the first one already labeled.
    with _as(studio, team["ann1"]) as ann1, _as(studio, team["ann2"]) as ann2:
        assert ann1.request("GET", f"api/projects/{project_id}/next")["id"] == first_task
        ann1.create_annotation(first_task, _result(TEXT, FIRST))
        assert ann2.request("GET", f"api/projects/{project_id}/next")["id"] == first_task
        ann2.create_annotation(first_task, _result(TEXT, SECOND))
        assert ann1.request("GET", f"api/projects/{project_id}/next")["id"] != first_task
    with studio_client(studio) as admin:
        assert next(t for t in admin.sdk.tasks.list(project=project_id) if t.id == first_task).is_labeled
        # Assigning tasks to annotators is not in Community: the SDK's endpoint is not served.
        with pytest.raises(StudioClientError, match="answered 404"):
            admin.request("POST", f"api/projects/{project_id}/tasks/assignees",
                          json={"type": "AN", "users": [team["ann1"].user_id], "selectedItems": {"all": True}})

    # Agreement equals the hand count: 3 of 6 + 5 spans identical, 4 overlap with the same label.
    report_dir = tmp_path / "agreement"
    printed = json.loads(_ok(studio_cli(studio, "agreement", "--project", title, "--json", "--out", str(report_dir))))
    overall = printed["overall"]
    assert overall["strict_f1"] == pytest.approx(6 / 11, abs=1e-4)
    assert overall["partial_f1"] == pytest.approx(8 / 11, abs=1e-4)
    per_label = overall["per_label"]
    assert (per_label["DATE"]["strict_f1"], per_label["DATE"]["partial_f1"]) == (0.0, 1.0)
    assert (per_label["UNIT"]["strict_f1"], per_label["UNIT"]["partial_f1"]) == (0.5, 0.5)
    assert per_label["OFFICIAL"]["strict_f1"] == 1.0
    assert per_label["POSITION"]["strict_f1"] == pytest.approx(2 / 3, abs=1e-4)
    [pair] = printed["pairs"]
    assert pair["annotators"] == [team["ann1"].email, team["ann2"].email] and pair["strict_f1"] == overall["strict_f1"]
    assert printed["annotators"][team["ann2"].email]["strict_f1"] == overall["strict_f1"]
    assert printed["documents"]["team-1"]["annotators"] == [team["ann1"].email, team["ann2"].email]
    kinds = sorted(d["kind"] for d in printed["disagreements"])
    assert kinds == ["missed", "wrong_boundary", "wrong_label"]
    missed = next(d for d in printed["disagreements"] if d["kind"] == "missed")
    assert missed["first"]["text"] == "Ban Chấp hành Đảng bộ huyện" and missed["second"]["span"] is None
    page = (report_dir / "agreement.html").read_text(encoding="utf-8")
    assert "only ann1-team@vner.test marked it" in page and "Ban Chấp hành Đảng bộ huyện" in page
    assert json.loads((report_dir / "agreement.json").read_text(encoding="utf-8")) == printed

    # Without ground truth the disputed task is reported by pull, not written.
    gold = tmp_path / "gold.jsonl"
    pulled = _ok(studio_cli(studio, "pull", "--project", title, "--out", str(gold)))
    assert re.search(r"disputed tasks without ground truth.*\s1\b", pulled) and gold.read_text() == ""

    # The reviewer's draft: the agreed spans (score 1) and every disputed one (score 1/2, with a note).
    assert "1 disputed tasks drafted" in _ok(studio_cli(studio, "review", "--project", title))
    with studio_client(studio) as admin:
        [draft] = [p for p in admin.sdk.predictions.list(project=project_id) if p.task == first_task]
        regions = {(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]): r for r in draft.result}
        agreed = set(FIRST) & set(SECOND)
        assert set(regions) == {(s.start, s.end, s.label) for s in set(FIRST) | set(SECOND)}
        for key, region in regions.items():
            if Span(*key) in agreed:
                assert region["score"] == 1.0 and "meta" not in region
            else:
                assert region["score"] == 0.5 and "disputed: marked by" in region["meta"]["text"][0]
        assert draft.model_version == admin.get_project(project_id).model_version

    with _as(studio, team["rev"]) as reviewer:  # accepts the first annotator's version
        reviewer.create_annotation(first_task, _result(TEXT, FIRST))
    settled = _ok(studio_cli(studio, "review", "--project", title))
    assert f"settled task {first_task} (team-1)" in settled and team["rev"].email in settled
    _ok(studio_cli(studio, "pull", "--project", title, "--out", str(gold)))
    [record] = read_documents(gold)
    assert record.id == "team-1" and sorted(record.spans) == sorted(FIRST)
    again = json.loads(_ok(studio_cli(studio, "agreement", "--project", title, "--json", "--out", str(report_dir))))
    assert again["overall"] == overall  # the reviewer and the ground truth are not annotators


REL_TEXT = ("Đồng chí Hoàng Anh Tuấn, Bí thư Huyện ủy, Chủ tịch HĐND huyện phát biểu tại hội nghị.\n\n"
            "Tổng thu ngân sách Nhà nước quý I-2023 ước đạt 164,5 tỷ đồng.")


def _rel_span(surface: str, label: str) -> Span:
    start = REL_TEXT.index(surface)
    return Span(start, start + len(surface), label)


TUAN, BI_THU, CHU_TICH = (_rel_span("Hoàng Anh Tuấn", "OFFICIAL"), _rel_span("Bí thư Huyện ủy", "POSITION"),
                          _rel_span("Chủ tịch HĐND huyện", "POSITION"))
QUARTER, INCOME = _rel_span("quý I-2023", "DATE"), _rel_span("164,5 tỷ đồng", "FIGURE")
REL_SPANS = [TUAN, BI_THU, CHU_TICH, QUARTER, INCOME]
HOLDS_BI_THU, HOLDS_CHU_TICH, PERIOD = (TUAN, BI_THU, "HOLDS"), (TUAN, CHU_TICH, "HOLDS"), (INCOME, QUARTER, "PERIOD")


def _arrows(*links: tuple[Span, Span, str]) -> list[dict]:
    """Arrows between the regions of :func:`_result` (ids by offsets)."""
    return [relation_item(f"r{h.start}-{h.end}", f"r{t.start}-{t.end}", kind) for h, t, kind in links]


def _overlap_project(studio: Studio, title: str, texts: dict[str, str], tmp_path: Path) -> tuple[int, dict[str, int]]:
    """A project where each task goes to two annotators, holding ``texts``: its id and task ids by document."""
    _ok(studio_cli(studio, "init", "--title", title, "--overlap", "2"))
    store = tmp_path / "docs.jsonl"
    write_documents(store, [Document(id=doc_id, text=text) for doc_id, text in texts.items()])
    _ok(studio_cli(studio, "push", "--project", title, "--store", str(store)))
    with studio_client(studio) as admin:
        project_id = admin.project_id(title)
        return project_id, admin.task_index(project_id).by_doc_id


def test_relation_agreement_and_review_keep_the_agreed_arrows(
    studio: Studio, team: dict[str, Member], tmp_path: Path
) -> None:
    title = "vner test team relations"
    texts = {"rel-1": REL_TEXT, "rel-2": REL_TEXT + "\n\nThêm một câu.", "rel-3": REL_TEXT + "\n\nCâu cuối."}
    project_id, tasks = _overlap_project(studio, title, texts, tmp_path)

    # rel-1: the same spans, B leaves out one HOLDS arrow; rel-2: the same spans, B draws no arrow at all.
    with _as(studio, team["ann1"]) as ann1, _as(studio, team["ann2"]) as ann2:
        ann1.create_annotation(tasks["rel-1"], _result(REL_TEXT, REL_SPANS)
                               + _arrows(HOLDS_BI_THU, HOLDS_CHU_TICH, PERIOD))
        ann2.create_annotation(tasks["rel-1"], _result(REL_TEXT, REL_SPANS) + _arrows(HOLDS_BI_THU, PERIOD))
        ann1.create_annotation(tasks["rel-2"], _result(texts["rel-2"], REL_SPANS) + _arrows(HOLDS_BI_THU))
        ann2.create_annotation(tasks["rel-2"], _result(texts["rel-2"], REL_SPANS))

    # Spans agree everywhere (F1 1); arrows count on rel-1 only: A (the reference) drew 3, B 2 of them.
    report_dir = tmp_path / "agreement"
    printed = json.loads(_ok(studio_cli(studio, "agreement", "--project", title, "--json", "--out", str(report_dir))))
    assert printed["overall"]["strict_f1"] == 1.0 and printed["overall"]["documents"] == 2
    relations = printed["overall"]["relations"]
    assert relations["documents"] == 1 and relations["arrows"] == [3, 2]
    assert (relations["precision"], relations["recall"], relations["f1"]) == (1.0, pytest.approx(2 / 3, abs=1e-4), 0.8)
    assert relations["per_type"] == {
        "HOLDS": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3, abs=1e-4), "arrows": [2, 1]},
        "PERIOD": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "arrows": [1, 1]},
    }
    [pair] = printed["pairs"]
    assert pair["annotators"] == [team["ann1"].email, team["ann2"].email] and pair["relations"] == relations
    page = (report_dir / "agreement.html").read_text(encoding="utf-8")
    assert "<h2>Relations (arrows" in page and "1.000 / 0.500 / 0.667" in page

    # rel-3 is disputed (B's DATE leaves out "quý"): both draw HOLDS Tuấn -> Bí thư, only A the other HOLDS,
    # and each a PERIOD to their own DATE. The draft carries the agreed arrow only; the others are noted.
    quarter_b = _rel_span("I-2023", "DATE")
    with _as(studio, team["ann1"]) as ann1, _as(studio, team["ann2"]) as ann2:
        ann1.create_annotation(tasks["rel-3"], _result(texts["rel-3"], REL_SPANS)
                               + _arrows(HOLDS_BI_THU, HOLDS_CHU_TICH, PERIOD))
        second = [s for s in REL_SPANS if s != QUARTER] + [quarter_b]
        ann2.create_annotation(tasks["rel-3"], _result(texts["rel-3"], second)
                               + _arrows(HOLDS_BI_THU, (INCOME, quarter_b, "PERIOD")))
    assert "2 disputed tasks drafted" in _ok(studio_cli(studio, "review", "--project", title))  # rel-1: arrows
    with studio_client(studio) as admin:
        [draft] = [p for p in admin.sdk.predictions.list(project=project_id) if p.task == tasks["rel-3"]]
    offsets = {r["id"]: (r["value"]["start"], r["value"]["end"]) for r in draft.result if r["type"] == "labels"}
    arrows = [(offsets[r["from_id"]], offsets[r["to_id"]], r["labels"][0]) for r in draft.result
              if r["type"] == "relation"]
    assert arrows == [((TUAN.start, TUAN.end), (BI_THU.start, BI_THU.end), "HOLDS")]
    notes = {offsets[r["id"]]: r["meta"]["text"][0] for r in draft.result if "meta" in r}
    assert f"HOLDS arrow from here to [{CHU_TICH.start}:{CHU_TICH.end}] “Chủ tịch HĐND huyện” left out: drawn by " \
        f"{team['ann1'].email} only" in notes[(TUAN.start, TUAN.end)]
    assert notes[(INCOME.start, INCOME.end)].count("PERIOD arrow from here") == 2

    # The reviewer keeps the draft but B's DATE (Label Studio pre-fills the draft) and submits: pull writes
    # the agreed arrow, not the one A alone drew.
    kept = [r for r in draft.result if r["type"] == "relation" or offsets[r["id"]] != (quarter_b.start, quarter_b.end)]
    with _as(studio, team["rev"]) as reviewer:
        reviewer.create_annotation(tasks["rel-3"], kept)
    assert f"settled task {tasks['rel-3']} (rel-3)" in _ok(studio_cli(studio, "review", "--project", title))
    gold = tmp_path / "gold.jsonl"
    _ok(studio_cli(studio, "pull", "--project", title, "--out", str(gold)))
    record = next(doc for doc in read_documents(gold) if doc.id == "rel-3")
    assert sorted(record.spans) == sorted(REL_SPANS)
    assert record.relations == [Relation((TUAN.start, TUAN.end), (BI_THU.start, BI_THU.end), "HOLDS")]


def test_arrows_that_differ_make_a_task_disputed_as_spans_do(
    studio: Studio, team: dict[str, Member], tmp_path: Path
) -> None:
    title = "vner test team arrow disputes"
    texts = {"by-spans": REL_TEXT, "by-arrows": REL_TEXT + "\n\nThêm một câu.", "one-sided": REL_TEXT + "\n\nCâu cuối."}
    project_id, tasks = _overlap_project(studio, title, texts, tmp_path)

    # by-spans: B's DATE leaves out "quý", the same arrows otherwise (a span dispute, as before);
    # by-arrows: the same spans, B leaves out one HOLDS arrow; one-sided: the same spans, B draws no arrow.
    quarter_b = _rel_span("I-2023", "DATE")
    all_arrows = _arrows(HOLDS_BI_THU, HOLDS_CHU_TICH, PERIOD)
    with _as(studio, team["ann1"]) as ann1, _as(studio, team["ann2"]) as ann2:
        ann1.create_annotation(tasks["by-spans"], _result(REL_TEXT, REL_SPANS) + _arrows(HOLDS_BI_THU))
        ann2.create_annotation(tasks["by-spans"], _result(REL_TEXT, [s for s in REL_SPANS if s != QUARTER]
                                                          + [quarter_b]) + _arrows(HOLDS_BI_THU))
        for doc_id in ("by-arrows", "one-sided"):
            ann1.create_annotation(tasks[doc_id], _result(texts[doc_id], REL_SPANS) + all_arrows)
        ann2.create_annotation(tasks["by-arrows"], _result(texts["by-arrows"], REL_SPANS)
                               + _arrows(HOLDS_BI_THU, PERIOD))
        ann2.create_annotation(tasks["one-sided"], _result(texts["one-sided"], REL_SPANS))

    # pull treats the arrow dispute as the span dispute: reported and not written, or the latest with
    # --take-latest; one-sided is no dispute (B's annotation without arrows does not say B linked nothing).
    gold = tmp_path / "gold.jsonl"
    pulled = _ok(studio_cli(studio, "pull", "--project", title, "--out", str(gold)))
    assert re.search(r"disputed tasks without ground truth.*\s2\b", pulled)
    assert [doc.id for doc in read_documents(gold)] == ["one-sided"]
    with studio_client(studio) as admin:
        exported = admin.export(project_id)
    for take_latest, outcome in ((False, "not written"), (True, "the latest is written (--take-latest)")):
        report = convert_export(exported, load_schema(), take_latest=take_latest)
        reasons = {issue.doc_id: issue.reason for issue in report.of(DISPUTED)}
        assert set(reasons) == {"by-spans", "by-arrows"}
        assert reasons["by-spans"].startswith("2 annotators marked different spans (")
        assert reasons["by-arrows"].startswith("2 annotators drew different arrows on the same spans (")
        assert all(reason.endswith(f"and none is ground truth: {outcome}") for reason in reasons.values())
        assert sorted(doc.id for doc in report.documents) == sorted(["one-sided", *(reasons if take_latest else [])])
    _ok(studio_cli(studio, "pull", "--project", title, "--out", str(gold), "--take-latest"))
    written = {doc.id: doc for doc in read_documents(gold)}
    assert len(written["by-arrows"].relations) == 2  # B's, the latest

    # review drafts both: the arrow-disputed one with every span agreed, the arrows both drew, A's other noted.
    reviewed = _ok(studio_cli(studio, "review", "--project", title))
    assert "2 disputed tasks drafted" in reviewed
    assert (f"to review: task {tasks['by-arrows']} (by-arrows): 5 agreed spans, 0 disputed; 2 agreed arrows, "
            "1 disputed") in reviewed
    assert (f"to review: task {tasks['by-spans']} (by-spans): 4 agreed spans, 2 disputed; 1 agreed arrows, "
            "0 disputed") in reviewed
    with studio_client(studio) as admin:
        [draft] = [p for p in admin.sdk.predictions.list(project=project_id) if p.task == tasks["by-arrows"]]
    offsets = {r["id"]: (r["value"]["start"], r["value"]["end"]) for r in draft.result if r["type"] == "labels"}
    assert sorted(offsets.values()) == sorted((s.start, s.end) for s in REL_SPANS)
    assert all(r["score"] == 1.0 for r in draft.result if r["type"] == "labels")
    arrows = sorted((offsets[r["from_id"]], offsets[r["to_id"]], r["labels"][0]) for r in draft.result
                    if r["type"] == "relation")
    assert arrows == sorted(((h.start, h.end), (t.start, t.end), kind) for h, t, kind in (HOLDS_BI_THU, PERIOD))
    [note] = [r["meta"]["text"][0] for r in draft.result if "meta" in r]
    assert note == (f"HOLDS arrow from here to [{CHU_TICH.start}:{CHU_TICH.end}] “Chủ tịch HĐND huyện” left out: "
                    f"drawn by {team['ann1'].email} only")

    # The reviewer keeps A's arrow too; the next review makes that ground truth, which pull writes.
    with _as(studio, team["rev"]) as reviewer:
        reviewer.create_annotation(tasks["by-arrows"], _result(texts["by-arrows"], REL_SPANS) + all_arrows)
    settled = _ok(studio_cli(studio, "review", "--project", title))
    assert f"settled task {tasks['by-arrows']} (by-arrows)" in settled and "1 disputed tasks drafted" in settled
    pulled = _ok(studio_cli(studio, "pull", "--project", title, "--out", str(gold)))
    assert re.search(r"disputed tasks without ground truth.*\s1\b", pulled)
    written = {doc.id: doc for doc in read_documents(gold)}
    assert sorted(written) == ["by-arrows", "one-sided"]
    assert sorted(written["by-arrows"].relations) == sorted(Relation((h.start, h.end), (t.start, t.end), kind)
                                                            for h, t, kind in (HOLDS_BI_THU, HOLDS_CHU_TICH, PERIOD))


# ----------------------------------------------------------------------------- defects


def test_import_gold_after_push_matches_by_content(studio: Studio, tmp_path: Path) -> None:
    title = "vner test content match"
    _ok(studio_cli(studio, "init", "--title", title))
    assert "added 5 tasks" in _ok(studio_cli(studio, "push", "--project", title))  # the seeds: doc-<hash> ids
    out = _ok(studio_cli(studio, "import-gold", str(BUNDLED_GOLD_FILE), "--project", title))
    assert "new tasks with the gold annotation: 0; gold annotation added to existing tasks: 5" in out
    assert "same text as a task of the project under another doc_id" in out
    with studio_client(studio) as client:
        project_id = client.project_id(title)
        assert len(list(client.iter_tasks(project_id))) == 5
        # A duplicate made some other way (here: imported directly) is written once by pull, and reported.
        seed = read_documents(BUNDLED_GOLD_FILE)[0]
        client.import_tasks(project_id, [{"data": {"text": seed.text, "doc_id": "copy-of-seed"},
                                          "annotations": [{"result": []}]}])
    gold = tmp_path / "gold.jsonl"
    pulled = _ok(studio_cli(studio, "pull", "--project", title, "--out", str(gold)))
    records = read_documents(gold)
    assert len(records) == 5 and len({r.text for r in records}) == 5
    assert re.search(r"duplicate documents: same id or text \(written once\)\s+1\b", pulled)
    assert "copy-of-seed" in pulled
    assert "added 0 tasks" in _ok(studio_cli(studio, "push", "--project", title, "--store", str(BUNDLED_GOLD_FILE)))


def test_paging_leaves_no_invalid_page_in_the_server_log(studio: Studio, tmp_path: Path) -> None:
    log = studio.settings.log_file
    offset = log.stat().st_size
    title = "vner test paging"
    _ok(studio_cli(studio, "init", "--title", title))
    docs = [Document(id=f"page-{i}", text=f"Ngày {i}-4, Huyện ủy Hậu Lộc họp lần thứ {i}.") for i in range(7)]
    write_documents(tmp_path / "docs.jsonl", docs)
    _ok(studio_cli(studio, "push", "--project", title, "--store", str(tmp_path / "docs.jsonl")))
    with studio_client(studio) as client:
        project_id = client.project_id(title)
        assert len(list(client.iter_tasks(project_id, page_size=3))) == 7  # 3 pages, the last one short
        assert len(list(client.iter_tasks(project_id, page_size=7))) == 7  # exactly one full page
        assert [p.id for p in client.find_projects(title)] == [project_id]
    with log.open("rb") as handle:
        handle.seek(offset)
        written = handle.read().decode(errors="replace")
    assert "Invalid page" not in written and "NotFound" not in written

    # The SDK's own pager (what the client iterated before) asks for the page after the last one.
    with studio_client(studio) as client:
        assert [p.title for p in client.sdk.projects.list(title=title, page_size=100)] == [title]
    with log.open("rb") as handle:
        handle.seek(offset)
        assert "Invalid page" in handle.read().decode(errors="replace")


def test_a_server_on_another_port_is_found_by_init_and_push(studio: Studio, tmp_path: Path) -> None:
    env = {key: value for key, value in studio.env.items() if key != "VNER_LS_PORT"}
    env["VNER_LS_DATA_DIR"] = str(studio.settings.data_dir)
    found = server.running_settings(load_settings(data_dir=studio.settings.data_dir, generate=False))
    assert found.port == studio.settings.port
    out = run_cli(["studio", "init", "--title", "vner test port"], env)
    assert out.exit_code == 0 and "created project" in out.output, out.output
    out = run_cli(["studio", "push", "--project", "vner test port"], env)
    assert out.exit_code == 0 and "added 5 tasks" in out.output, out.output
    chosen = run_cli(["studio", "init", "--title", "vner test port", "--port", "1"], env)
    assert chosen.exit_code == 1 and "does not answer at http://127.0.0.1:1" in chosen.output
