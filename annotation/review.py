"""A reviewer settles disputed tasks: ``vner studio review``.

A task is *disputed* when two or more annotators (each by their latest submitted annotation;
reviewers and ground truth aside) marked different spans, or drew different arrows (strict: type
and both ends; only annotations that have arrows count, as in ``agreement``), and no annotation is
ground truth yet (``tasks.dispute``, the rule ``pull`` applies too). For each, ``review`` writes a
draft for the reviewer, as the task's prediction of the project's model version (the one the
labeling view pre-fills); a task disputed by its arrows alone gets every span as agreed:

* the spans every annotator marked, score 1.0;
* each disputed span, scored by the share of annotators who marked it, with a note (region
  ``meta.text``) saying who marked it and what the others marked there instead;
* the arrows (HOLDS/PERIOD, read by ``tasks.result_relations`` with ``pull``'s region and arrow
  readers) that every annotator drew, same type and ends, when both ends are agreed spans: the
  rule of the spans (agreed by all, as drawn). Label Studio shows no score on an arrow, so every
  other arrow is left out of the draft and noted on its head's region with who drew it; an
  annotator without arrows drew none.

Disputed alternatives may overlap: the reviewer deletes the ones rejected (``pull`` refuses
overlapping spans), fixes the rest and submits. Run ``review`` again and the latest annotation of
a reviewer (``vner studio users add --role reviewer``) on a disputed task is marked ground truth,
which ``pull`` prefers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from annotation.agreement import latest_opinions
from annotation.client import StudioClient, _api
from annotation.export import annotation_time, annotator_of
from annotation.tasks import (
    DOC_ID_KEY,
    TEXT_KEY,
    dispute,
    is_relation_item,
    relation_item,
    result_relations,
    result_spans,
    span_region,
)
from corpus.document import Span
from corpus.scoring import score

REVIEW_VERSION = "vner-review"  # model version of the drafts when the project has none
Links = frozenset[tuple[tuple[int, int], tuple[int, int], str]]  # (head, tail, type) arrows: result_relations


@dataclass
class ReviewReport:
    model_version: str
    # (doc id, task, agreed spans, disputed spans, arrows in the draft, arrows left out and noted)
    prepared: list[tuple[str, int, int, int, int, int]] = field(default_factory=list)
    settled: list[tuple[str, int, int, str]] = field(default_factory=list)  # (doc id, task, annotation, reviewer)
    already: list[tuple[str, int]] = field(default_factory=list)  # disputed, with ground truth already


def review_draft(text: str, opinions: dict[str, frozenset[tuple[int, int, str]]],
                 links: dict[str, Links] | None = None) -> list[dict[str, Any]]:
    """The regions of a reviewer's draft: agreed spans (score 1), disputed ones (share of annotators, note),
    then the arrows of ``links`` (per annotator) that all drew between agreed spans; the others in notes."""
    names = sorted(opinions)
    agreed = frozenset.intersection(*opinions.values())
    regions = [span_region(text, Span(*s), i, with_score=True) for i, s in enumerate(sorted(agreed))]
    for region in regions:
        region["score"] = 1.0
    agreed_ids = {(r["value"]["start"], r["value"]["end"]): r["id"] for r in regions}
    disputed = sorted(frozenset.union(*opinions.values()) - agreed)
    for i, span in enumerate(disputed, start=len(regions)):
        by = [name for name in names if span in opinions[name]]
        others = []
        for name in names:
            if name in by:
                continue
            near = [s for s in opinions[name] if s[0] < span[1] and span[0] < s[1]]
            instead = "; ".join(f"[{s[0]}:{s[1]}] {s[2]} “{text[s[0]:s[1]]}”" for s in sorted(near))
            others.append(f"{name}: {instead or 'nothing'}")
        region = span_region(text, Span(*span), i)
        region["score"] = round(len(by) / len(names), 4)
        region["meta"] = {"text": [f"disputed: marked by {', '.join(by)}; instead: {' | '.join(others)}"]}
        regions.append(region)
    return regions + _draft_arrows(text, regions, agreed_ids, links or {})


def _draft_arrows(text: str, regions: list[dict[str, Any]], agreed_ids: dict[tuple[int, int], str],
                  links: dict[str, Links]) -> list[dict[str, Any]]:
    """Arrows every annotator drew between agreed spans (``agreed_ids``: their region ids by offsets);
    each other arrow is noted on the regions at its head's offsets."""
    if not links:
        return []
    common = frozenset.intersection(*links.values())
    drawn = sorted(link for link in common if link[0] in agreed_ids and link[1] in agreed_ids)
    for link in sorted(frozenset.union(*links.values()) - set(drawn)):
        (hs, he), (ts, te), kind = link
        by = [name for name in sorted(links) if link in links[name]]
        why = "all drew it, but its ends are disputed: redraw it if kept" if link in common else \
            f"drawn by {', '.join(by)} only"
        note = f"{kind} arrow from here to [{ts}:{te}] “{text[ts:te]}” left out: {why}"
        for region in regions:
            if (region["value"]["start"], region["value"]["end"]) == (hs, he):
                old = region.get("meta", {}).get("text", [])
                region["meta"] = {"text": ["\n".join([*old, note])]}
    return [relation_item(agreed_ids[head], agreed_ids[tail], kind) for head, tail, kind in drawn]


def _doc_agreement(opinions: dict[str, frozenset[tuple[int, int, str]]], labels: list[str]) -> float:
    """Strict F1 pooled over the annotator pairs: the draft's score (low = much disputed)."""
    names = sorted(opinions)
    pairs = [([Span(*s) for s in opinions[a]], [Span(*s) for s in opinions[b]])
             for i, a in enumerate(names) for b in names[i + 1:]]
    return round(score(labels, pairs).micro()["f1"], 4)


def review(client: StudioClient, project_id: int, labels: list[str], names: dict[Any, str],
           reviewers: Iterable[Any]) -> ReviewReport:
    """Settle the disputed tasks a reviewer has annotated; draft the others for review."""
    reviewers = set(reviewers)
    project = client.get_project(project_id)
    version = project.model_version or REVIEW_VERSION
    report = ReviewReport(version)
    drafts: list[tuple[int, dict[str, Any]]] = []
    for task in sorted(client.export(project_id), key=lambda t: int(t.get("id") or 0)):
        opinions = latest_opinions(task, reviewers)
        spans = {names.get(user, f"user {user}"): result_spans(a.get("result")) for user, a in opinions.items()}
        links = {names.get(user, f"user {user}"): result_relations(a.get("result")) for user, a in opinions.items()}
        if len(spans) < 2 or dispute(a.get("result") for a in opinions.values()) is None:
            continue
        data = task.get("data") or {}
        doc_id, task_id = str(data.get(DOC_ID_KEY) or task["id"]), int(task["id"])
        annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if any(a.get("ground_truth") for a in annotations):
            report.already.append((doc_id, task_id))
            continue
        by_reviewer = [a for a in annotations if annotator_of(a) in reviewers]
        if by_reviewer:
            chosen = max(by_reviewer, key=annotation_time)
            with _api(f"marking annotation {chosen['id']} as ground truth"):
                client.sdk.annotations.update(chosen["id"], ground_truth=True)
            who = annotator_of(chosen)
            report.settled.append((doc_id, task_id, int(chosen["id"]), names.get(who, f"user {who}")))
            continue
        text = str(data.get(TEXT_KEY) or "")
        result = review_draft(text, spans, links)
        drafts.append((task_id, {"result": result, "score": _doc_agreement(spans, labels)}))
        agreed = len(frozenset.intersection(*spans.values()))
        arrows = sum(map(is_relation_item, result))
        report.prepared.append((doc_id, task_id, agreed, len(frozenset.union(*spans.values())) - agreed,
                                arrows, len(frozenset.union(*links.values())) - arrows))
    client.replace_predictions(project_id, drafts, version)
    if drafts and not project.model_version:
        client.set_model_version(project_id, version)
    return report
