"""Agreement between annotators on the tasks that two or more of them submitted: ``vner studio agreement``.

Each annotator counts with their latest submitted annotation of a task (skips, ground-truth
annotations and reviewers' work are left out). Every pair of annotators of a task is scored with the
project's own scorer (``corpus.scoring``), one annotator standing for "gold": strict F1 (same start,
end and label) and partial F1 (overlap, same label) are symmetric, so the choice does not matter.
Scores are pooled (counts summed) per label, per annotator pair, per annotator and per document;
every span the two did not mark identically is listed with its context.

Relations (HOLDS/PERIOD arrows, read by ``tasks.result_relations`` with ``pull``'s region and
arrow readers, without its schema checks) are scored strictly (same type, both ends at the same
offsets; ``corpus.relation_scoring``), overall and per pair; precision and recall take the first
annotator of a pair (by name) as "gold". A pair counts for relations on a task only when both
annotations have at least one arrow: one without arrows does not say whether its author linked
anything (as for ``pull`` without ``--relations-annotated``). By the same rule (``tasks.dispute``),
``review`` and ``pull`` call a task disputed when such arrows differ, even if the spans agree.
"""

from __future__ import annotations

import html
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotation.export import annotation_time, annotator_of
from annotation.tasks import DOC_ID_KEY, TEXT_KEY, drawn_links, result_spans
from corpus.document import Relation, Span
from corpus.relation_scoring import RelationScores, score_relations
from corpus.scoring import Scores, prf, score, score_document

RelationPair = tuple[list[Relation], list[Relation]]  # two annotators' arrows of one task


@dataclass(frozen=True)
class Disagreement:
    doc_id: str
    task_id: int
    first: str  # annotator names
    second: str
    kind: str  # missed (only the first marked it), spurious (only the second), wrong_boundary, wrong_label
    first_span: Span | None
    second_span: Span | None


@dataclass
class Agreement:
    labels: Sequence[str]
    overall: Scores
    pairs: dict[tuple[str, str], Scores] = field(default_factory=dict)
    annotators: dict[str, Scores] = field(default_factory=dict)
    documents: dict[str, Scores] = field(default_factory=dict)  # doc id -> pooled over its pairs
    disagreements: list[Disagreement] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # doc id -> text
    tasks: dict[str, int] = field(default_factory=dict)  # doc id -> task id
    who: dict[str, list[str]] = field(default_factory=dict)  # doc id -> its annotators
    relations: RelationScores = field(default_factory=lambda: RelationScores(types=[]))  # pooled over every pair
    relation_pairs: dict[tuple[str, str], RelationScores] = field(default_factory=dict)


def partial_f1(scores: Scores, label: str | None = None) -> float:
    """Partial F1 of one label (or of all): ``2 * overlapping matches / (spans of both)``."""
    if label is None:
        return scores.partial()["f1"]
    n = scores.gold[label] + scores.pred[label]
    return 2 * scores.partial_tp_gold[label] / n if n else 0.0


def summary(scores: Scores) -> dict[str, Any]:
    """Strict and partial F1, overall and per label (labels seen by either side), and span counts."""
    labels = [label for label in scores.labels if scores.gold[label] or scores.pred[label]]
    strict = scores.per_label()
    return {
        "strict_f1": round(scores.micro()["f1"], 4),
        "partial_f1": round(partial_f1(scores), 4),
        "spans": [sum(scores.gold.values()), sum(scores.pred.values())],
        "documents": scores.n_docs,
        "per_label": {label: {"strict_f1": round(strict[label]["f1"], 4),
                              "partial_f1": round(partial_f1(scores, label), 4),
                              "spans": [scores.gold[label], scores.pred[label]]} for label in labels},
    }


def relation_summary(scores: RelationScores) -> dict[str, Any]:
    """Strict precision, recall and F1 of arrows, micro and per type (types either side drew), with
    arrow counts ``[first, second]`` and the number of tasks where both drew arrows."""
    def figures(tp: int, first: int, second: int) -> dict[str, Any]:
        return {k: round(v, 4) for k, v in prf(tp, second, first).items()} | {"arrows": [first, second]}

    types = [t for t in scores.types if scores.gold[t] or scores.pred[t]]
    return {"documents": scores.n_docs,
            **figures(sum(scores.tp.values()), sum(scores.gold.values()), sum(scores.pred.values())),
            "per_type": {t: figures(scores.tp[t], scores.gold[t], scores.pred[t]) for t in types}}


def drawn_relations(annotation: dict[str, Any]) -> list[Relation] | None:
    """The well-formed arrows of an annotation as relations, or None when it has no arrow at all
    (``tasks.drawn_links``: the rule by which ``review`` and ``pull`` call arrows disputed)."""
    links = drawn_links(annotation.get("result"))
    return None if links is None else [Relation(head, tail, kind) for head, tail, kind in sorted(links)]


def _score_relations(result: Agreement, pairs: dict[tuple[str, str], list[RelationPair]],
                     relation_types: Sequence[str]) -> None:
    """Score the arrows of ``pairs`` (per annotator pair) into ``result``: pooled and per pair."""
    seen = {r.type for docs in pairs.values() for pair in docs for side in pair for r in side}
    types = [*relation_types, *sorted(seen - set(relation_types))]
    result.relations = score_relations(types, [pair for docs in pairs.values() for pair in docs])
    result.relation_pairs = {who: score_relations(types, docs) for who, docs in sorted(pairs.items())}


def latest_opinions(task: dict[str, Any], skip_users: Iterable[Any] = ()) -> dict[Any, dict[str, Any]]:
    """Each annotator's latest submitted annotation of an exported task (no skips, ground truth or ``skip_users``)."""
    skip = set(skip_users)
    latest: dict[Any, dict[str, Any]] = {}
    usable = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")
              and not a.get("ground_truth") and annotator_of(a) not in skip]
    for annotation in sorted(usable, key=annotation_time):
        latest[annotator_of(annotation)] = annotation
    return latest


def measure_agreement(tasks: list[dict[str, Any]], labels: Sequence[str], names: dict[Any, str],
                      skip_users: Iterable[Any] = (), relation_types: Sequence[str] = ()) -> Agreement:
    """Agreement over exported ``tasks``; ``names`` maps a ``completed_by`` id to a readable name.
    Relations are reported per type in ``relation_types`` order, then any other type drawn."""
    result = Agreement(labels, Scores(labels=list(labels)))
    pair_docs: dict[tuple[str, str], list] = defaultdict(list)
    relation_docs: dict[tuple[str, str], list[RelationPair]] = defaultdict(list)
    annotator_docs: dict[str, list] = defaultdict(list)
    skip = list(skip_users)
    for task in sorted(tasks, key=lambda t: int(t.get("id") or 0)):
        opinions = latest_opinions(task, skip)
        if len(opinions) < 2:
            continue
        data = task.get("data") or {}
        doc_id = str(data.get(DOC_ID_KEY) or task.get("id"))
        text = str(data.get(TEXT_KEY) or "")
        result.texts[doc_id], result.tasks[doc_id] = text, int(task["id"])
        spans = {names.get(user, f"user {user}"): sorted(Span(*s) for s in result_spans(a.get("result")))
                 for user, a in opinions.items()}
        result.who[doc_id] = sorted(spans)
        links = {names.get(user, f"user {user}"): drawn_relations(a) for user, a in opinions.items()}
        doc_pairs = []
        for first, second in itertools.combinations(sorted(spans), 2):
            first_links, second_links = links[first], links[second]
            if first_links is not None and second_links is not None:
                relation_docs[(first, second)].append((first_links, second_links))
            pair = (spans[first], spans[second])
            pair_docs[(first, second)].append(pair)
            annotator_docs[first].append(pair)
            annotator_docs[second].append(pair)
            doc_pairs.append(pair)
            one = score(labels, [pair])
            result.disagreements += [
                Disagreement(doc_id, int(task["id"]), first, second, case.kind, case.gold, case.pred)
                for case in one.cases
            ]
        result.documents[doc_id] = score(labels, doc_pairs)
        for gold, pred in doc_pairs:
            score_document(result.overall, gold, pred)
    result.pairs = {pair: score(labels, docs) for pair, docs in sorted(pair_docs.items())}
    result.annotators = {name: score(labels, docs) for name, docs in sorted(annotator_docs.items())}
    _score_relations(result, relation_docs, relation_types)
    return result


def agreement_json(result: Agreement) -> dict[str, Any]:
    def span(s: Span | None) -> dict[str, Any] | None:
        return None if s is None else {"start": s.start, "end": s.end, "label": s.label}

    def relations(pair: tuple[str, str]) -> dict[str, Any]:
        return relation_summary(result.relation_pairs.get(pair) or RelationScores(types=[]))

    return {
        "overall": summary(result.overall) | {"relations": relation_summary(result.relations)},
        "pairs": [{"annotators": list(pair), **summary(s), "relations": relations(pair)}
                  for pair, s in result.pairs.items()],
        "annotators": {name: summary(s) for name, s in result.annotators.items()},
        "documents": {doc_id: {"task": result.tasks[doc_id], "annotators": result.who[doc_id], **summary(s)}
                      for doc_id, s in result.documents.items()},
        "disagreements": [
            {"doc_id": d.doc_id, "task": d.task_id, "kind": d.kind,
             "first": {"annotator": d.first, "span": span(d.first_span),
                       "text": _surface(result.texts[d.doc_id], d.first_span)},
             "second": {"annotator": d.second, "span": span(d.second_span),
                        "text": _surface(result.texts[d.doc_id], d.second_span)}}
            for d in result.disagreements
        ],
    }


def _surface(text: str, span: Span | None) -> str | None:
    return None if span is None else text[span.start:span.end]


_KIND = {"missed": "only {a} marked it", "spurious": "only {b} marked it",
         "wrong_boundary": "same label, other boundaries", "wrong_label": "overlapping, other label"}


def _context(text: str, spans: list[tuple[Span, str]], width: int = 80) -> str:
    """The text around ``spans`` with each one marked (``css`` class per span)."""
    start = max(0, min(s.start for s, _ in spans) - width)
    end = min(len(text), max(s.end for s, _ in spans) + width)
    marks = sorted({(s.start, s.end, css) for s, css in spans})
    out = []
    cuts = sorted({start, end, *[p for s, e, _ in marks for p in (s, e)]})
    for a, b in itertools.pairwise(cuts):
        classes = " ".join(css for s, e, css in marks if s <= a and b <= e)
        piece = html.escape(text[a:b])
        out.append(f'<span class="{classes}">{piece}</span>' if classes else piece)
    return ("…" if start > 0 else "") + "".join(out) + ("…" if end < len(text) else "")


def _relation_table(result: Agreement) -> str:
    """Precision / recall / F1 of arrows, micro and per type, pooled and per pair of annotators."""
    rows = [("all pairs", result.relations), *((f"{a} × {b}", s) for (a, b), s in result.relation_pairs.items())]
    types = list(relation_summary(result.relations)["per_type"])
    head = "".join(f"<th>{html.escape(t)}<br>P / R / F1</th>" for t in types)

    def cell(figures: dict[str, Any] | None, bold: bool = False) -> str:
        if not figures or not any(figures["arrows"]):
            return "<td>–</td>"
        f1 = f"<b>{figures['f1']:.3f}</b>" if bold else f"{figures['f1']:.3f}"
        return f"<td>{figures['precision']:.3f} / {figures['recall']:.3f} / {f1}</td>"

    body = []
    for name, scores in rows:
        s = relation_summary(scores)
        cells = "".join(cell(s["per_type"].get(t)) for t in types)
        body.append(f"<tr><th>{html.escape(name)}</th><td>{s['documents']}</td>{cell(s, bold=True)}{cells}</tr>")
    return ("<h2>Relations (arrows: same type, both ends at the same offsets)</h2><p>Tasks where both annotators "
            "of a pair drew arrows; precision and recall take the first of the pair as reference.</p>"
            f"<table><tr><th></th><th>docs</th><th>all<br>P / R / F1</th>{head}</tr>" + "".join(body) + "</table>")


def agreement_html(result: Agreement, title: str) -> str:
    """A self-contained HTML report: tables of F1, then every disagreement in context (who said what)."""
    def table(rows: list[tuple[str, Scores]], heading: str) -> str:
        labels = [label for label in result.labels if result.overall.gold[label] or result.overall.pred[label]]
        head = "".join(f"<th>{html.escape(label)}<br>strict / partial</th>" for label in labels)
        body = []
        for name, s in rows:
            cells = "".join(f"<td>{s.per_label()[label]['f1']:.3f} / {partial_f1(s, label):.3f}</td>"
                            if s.gold[label] or s.pred[label] else "<td>–</td>" for label in labels)
            body.append(f"<tr><th>{html.escape(name)}</th><td>{s.n_docs}</td>"
                        f"<td><b>{s.micro()['f1']:.3f}</b> / {partial_f1(s):.3f}</td>{cells}</tr>")
        return (f"<h2>{heading}</h2><table><tr><th></th><th>docs</th><th>all<br>strict / partial</th>{head}</tr>"
                + "".join(body) + "</table>")

    parts = [f"<h1>{html.escape(title)}</h1>",
             table([("all pairs", result.overall)], "Overall (pooled over every pair of annotators)"),
             table([(f"{a} × {b}", s) for (a, b), s in result.pairs.items()], "Per pair of annotators"),
             table(list(result.annotators.items()), "Per annotator (all pairs they are in)"),
             table([(f"{d} (task {result.tasks[d]}: {', '.join(result.who[d])})", s)
                    for d, s in result.documents.items()], "Per document"),
             _relation_table(result),
             f"<h2>Disagreements ({len(result.disagreements)})</h2>"]
    for d in result.disagreements:
        text = result.texts[d.doc_id]
        said = []
        for who, span, css in ((d.first, d.first_span, "a"), (d.second, d.second_span, "b")):
            what = (f"[{span.start}:{span.end}] <b>{span.label}</b> “{html.escape(text[span.start:span.end])}”"
                    if span else "<i>nothing here</i>")
            said.append(f'<li class="{css}">{html.escape(who)}: {what}</li>')
        marked = [(s, css) for s, css in ((d.first_span, "a"), (d.second_span, "b")) if s is not None]
        parts.append(f'<div class="case"><div class="where">{html.escape(d.doc_id)} (task {d.task_id}): '
                     f'{html.escape(_KIND[d.kind].format(a=d.first, b=d.second))}</div><ul>{"".join(said)}</ul>'
                     f'<p class="context">{_context(text, marked)}</p></div>')
    style = ("body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:3px 6px;font-size:90%;text-align:right}th{text-align:left}"
             ".case{border-top:1px solid #ddd;padding:.4em 0}.where{color:#555}.a{background:#cde8ff}"
             ".b{border-bottom:3px solid #e8a33d}li.a,li.b{background:none}.context{line-height:1.6}")
    return f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>" + \
        "".join(parts)
