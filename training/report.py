"""Evaluation reports a person would rather look at: errors in context (HTML), per-label F1 (PNG).

Entity errors come first; when the gold file has relations, missed and spurious links follow, end
to end (predicted entities) and with gold entities, each with both ends marked in their sentence.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from corpus.document import Document, Span
from corpus.relation_scoring import RelationScores
from corpus.schema import LabelSchema
from corpus.scoring import ERROR_KINDS, Scores
from training.evaluate import RelationResults

CONTEXT = 70


def _mark(text: str, span: Span | None, css: str) -> str:
    if span is None:
        return ""
    return f'<span class="{css}">{html.escape(text[span.start:span.end])}</span> <small>{span.label}</small>'


def _context(text: str, spans: list[Span]) -> str:
    """The text around the spans, with the union of their extents underlined."""
    start, end = min(s.start for s in spans), max(s.end for s in spans)
    left, right = max(0, start - CONTEXT), min(len(text), end + CONTEXT)
    return (
        ("…" if left else "")
        + html.escape(text[left:start]).replace("\n", " ⏎ ")
        + f"<u>{html.escape(text[start:end])}</u>"
        + html.escape(text[end:right]).replace("\n", " ⏎ ")
        + ("…" if right < len(text) else "")
    )


def _link_context(text: str, head: tuple[int, int], tail: tuple[int, int]) -> str:
    """The text around a link, its head and its tail marked."""
    (a, b), (c, d) = sorted([head, tail])
    left, right = max(0, a - CONTEXT), min(len(text), d + CONTEXT)

    def plain(start: int, end: int) -> str:
        return html.escape(text[start:end]).replace("\n", " ⏎ ")

    def marked(start: int, end: int) -> str:
        css = "head" if (start, end) == head else "tail"
        return f'<span class="{css}">{plain(start, end)}</span>'

    return (("…" if left else "") + plain(left, a) + marked(a, b) + plain(b, c) + marked(c, d) + plain(d, right)
            + ("…" if right < len(text) else ""))


def _relation_rows(docs: Sequence[Document], scores: RelationScores, entities: str) -> list[str]:
    rows = []
    for case in sorted(scores.cases, key=lambda c: (c.kind, c.doc_index, c.relation)):
        doc, link = docs[case.doc_index], case.relation
        rows.append(
            f"<tr class='{case.kind}'><td>{case.kind} ({entities})</td><td>{html.escape(doc.id)}</td>"
            f"<td>{html.escape(link.type)}</td><td>{html.escape(doc.text[link.head[0]:link.head[1]])} → "
            f"{html.escape(doc.text[link.tail[0]:link.tail[1]])}</td>"
            f"<td>{_link_context(doc.text, link.head, link.tail)}</td></tr>"
        )
    return rows


def relations_html(results: RelationResults) -> str:
    """A section: relation scores, then each missed and spurious link in context."""
    parts = []
    for name, scores in (("predicted entities", results.end_to_end), ("gold entities", results.gold_entities)):
        cells = ", ".join(
            f"{t} F1 {row['f1']:.3f} (P {row['precision']:.3f}, R {row['recall']:.3f}, n {row['support']})"
            for t, row in scores.to_dict().items()
        )
        parts.append(f"<li>{name}: {cells}</li>")
    rows = _relation_rows(results.docs, results.end_to_end, "predicted entities")
    rows += _relation_rows(results.docs, results.gold_entities, "gold entities")
    return f"""<h2>Relations</h2>
<p>Strict: a link counts when its type and both ends' offsets equal a gold link; {len(results.docs)} documents
carry relations. <span class="head">head</span> and <span class="tail">tail</span> are marked in the text.</p>
<ul>{''.join(parts)}</ul>
<table><tr><th>error</th><th>document</th><th>type</th><th>link</th><th>context</th></tr>
{''.join(rows)}
</table>
"""


def error_report_html(
    docs: Sequence[Document], scores: Scores, title: str, relations: RelationResults | None = None
) -> str:
    """One table row per error: kind, document, gold and predicted span, and the text around them."""
    rows = []
    for case in sorted(scores.cases, key=lambda c: (ERROR_KINDS.index(c.kind), c.doc_index)):
        doc = docs[case.doc_index]
        spans = [s for s in (case.gold, case.pred) if s is not None]
        rows.append(
            f"<tr class='{case.kind}'><td>{case.kind.replace('_', ' ')}</td><td>{html.escape(doc.id)}</td>"
            f"<td>{_mark(doc.text, case.gold, 'gold')}</td><td>{_mark(doc.text, case.pred, 'pred')}</td>"
            f"<td>{_context(doc.text, spans)}</td></tr>"
        )
    micro = scores.micro()
    summary = ", ".join(f"{kind.replace('_', ' ')} {sum(scores.errors[kind].values())}" for kind in ERROR_KINDS)
    return f"""<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px; vertical-align: top; text-align: left; }}
.gold {{ background: #d4f4d4; }} .pred {{ background: #fde2c8; }} u {{ text-decoration-thickness: 2px; }}
.head {{ background: #d6e4ff; }} .tail {{ background: #ffe3f1; }}
small {{ color: #666; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Strict micro P {micro['precision']:.3f}, R {micro['recall']:.3f}, F1 {micro['f1']:.3f}
over {scores.n_docs} documents.
Errors: {summary}.</p>
<table><tr><th>error</th><th>document</th><th>gold</th><th>predicted</th><th>context</th></tr>
{''.join(rows)}
</table>
{relations_html(relations) if relations else ''}</body></html>
"""


def per_label_f1_png(scores: Scores, schema: LabelSchema, path: Path, title: str) -> Path:
    """A horizontal bar chart of strict F1 per label, in the schema's colors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_label = scores.per_label()
    names = list(schema.names)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.5))
    ax.barh(names, [per_label[n]["f1"] for n in names], color=[label.color for label in schema.labels])
    for i, name in enumerate(names):
        ax.text(per_label[name]["f1"] + 0.01, i, f"{per_label[name]['f1']:.2f} (n={per_label[name]['support']})",
                va="center", fontsize=9)
    ax.set_xlim(0, 1.15)
    ax.invert_yaxis()
    ax.set_xlabel("strict F1")
    ax.set_title(f"{title}: micro F1 {scores.micro()['f1']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
