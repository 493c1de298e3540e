"""The Label Studio labeling interface, derived from the label schema only.

Annotators mark flat spans over the task's ``text`` field; the result's ``value.start``/``end``
are what our converters read back as offsets (see ``annotation-spec.md``: code-point offsets into
the NFC text, ``end`` exclusive). When the schema has relation types, a ``<Relations>`` block
offers one ``<Relation>`` per type: the annotator draws an arrow from one region to another and
picks its type; which labels each type may link is checked on pull (``annotation.export``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from corpus.schema import LabelSchema

FROM_NAME = "label"  # the <Labels> control: "from_name" in Label Studio results
TO_NAME = "text"  # the <Text> object: "to_name" in results, and the task data key ($text)

# granularity="symbol" (Label Studio's default, stated explicitly so nobody "improves" it):
# the selection is kept exactly as the annotator made it, character by character, so the stored
# start/end are the selected characters. "word" makes the browser snap the selection to word
# boundaries, and Label Studio has had bugs there with non-ASCII letters at word edges (issue
# #1122), with punctuation next to a word (#4976: a quote after ")" is swallowed) and with the
# stored text no longer matching the snapped start/end (#2878). Vietnamese spans end next to
# diacritics and punctuation all the time ("TN&MT", "102%", "Ngày 3-4"), and the spec's boundary
# rules (no honorific, no trailing punctuation) need character-exact control anyway.
# Offsets: the browser counts UTF-16 code units; in NFC Vietnamese every character is in the BMP,
# so these equal Python code-point offsets (only astral characters such as emoji would differ).
GRANULARITY = "symbol"


def labeling_config(schema: LabelSchema) -> str:
    """The ``<View>`` XML for span labeling of ``$text`` with one ``<Label>`` per schema label,
    and one ``<Relation>`` per schema relation type (``choice="single"``: one type per arrow)."""
    view = ET.Element("View")
    if schema.relations:
        relations = ET.SubElement(view, "Relations", {"choice": "single"})
        for relation in schema.relations:
            ET.SubElement(relations, "Relation", {"value": relation.name})
    labels = ET.SubElement(view, "Labels", {"name": FROM_NAME, "toName": TO_NAME, "showInline": "true"})
    for label in schema.labels:
        attrs = {"value": label.name, "background": label.color}
        if label.hotkey:
            attrs["hotkey"] = label.hotkey
        if label.description:
            attrs["hint"] = label.description
        ET.SubElement(labels, "Label", attrs)
    ET.SubElement(view, "Text", {"name": TO_NAME, "value": f"${TO_NAME}", "granularity": GRANULARITY})
    ET.indent(view, space="  ")
    # ElementTree escapes &, <, >, " and newlines in attribute values.
    # No trailing newline: Label Studio strips it, so this way the stored config reads back identical.
    return ET.tostring(view, encoding="unicode")
