"""Predicted entities as one HTML page (spaCy displaCy, manual mode), coloured by the label schema."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

from spacy import displacy

from corpus.schema import LabelSchema

_BODY = re.compile(r"<body[^>]*>")
_LEGEND_ITEM = (
    '<span style="display: inline-block; margin: 0 1.2em 0.6em 0">'
    '<mark style="background: {color}; padding: 0.3em 0.6em; border-radius: 0.35em; font-weight: bold; '
    'font-size: 0.8em">{name}</mark> <span style="font-size: 0.85em">{description}</span></span>'
)


def label_colors(schema: LabelSchema) -> dict[str, str]:
    return {label.name: label.color for label in schema.labels}


def legend(schema: LabelSchema) -> str:
    items = "".join(
        _LEGEND_ITEM.format(color=html.escape(label.color), name=html.escape(label.name),
                            description=html.escape(label.description))
        for label in schema.labels
    )
    return f'<div class="vner-legend" style="margin-bottom: 3rem">{items}</div>'


def render_page(
    docs: Iterable[tuple[str, str, list[dict[str, Any]]]],
    schema: LabelSchema,
    page_title: str = "vner predictions",
) -> str:
    """A complete HTML page: a legend of the labels, then each ``(title, text, entities)`` highlighted.

    ``entities`` are dicts with ``start``, ``end`` and ``label`` (offsets into ``text``), as
    :func:`models.predict.predict` returns them.
    """
    parsed: list[dict[str, Any]] = [
        {
            "text": text,
            "ents": [{"start": e["start"], "end": e["end"], "label": e["label"]} for e in entities],
            "title": html.escape(title),  # displaCy escapes the text, not the title
        }
        for title, text, entities in docs
    ]
    if parsed:
        parsed[0]["settings"] = {"lang": "vi", "direction": "ltr"}
    markup = displacy.render(
        parsed, style="ent", manual=True, page=True, jupyter=False, options={"colors": label_colors(schema)}
    )
    markup = markup.replace("<head>", '<head>\n<meta charset="utf-8">', 1)
    markup = markup.replace("<title>displaCy</title>", f"<title>{html.escape(page_title)}</title>", 1)
    found = _BODY.search(markup)
    if found:
        markup = markup[: found.end()] + legend(schema) + markup[found.end():]
    return markup
