"""The Label Studio labeling config is derived from the label schema only."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from annotation.labeling_config import labeling_config
from corpus.schema import LabelSchema, load_schema


def test_default_schema_gives_one_label_per_schema_label() -> None:
    schema = load_schema()
    root = ET.fromstring(labeling_config(schema))
    assert root.tag == "View"
    labels = root.find("Labels")
    assert labels is not None and labels.get("name") == "label" and labels.get("toName") == "text"
    got = [(el.get("value"), el.get("background"), el.get("hotkey"), el.get("hint")) for el in labels.findall("Label")]
    assert got == [(lab.name, lab.color, lab.hotkey, lab.description) for lab in schema.labels]
    text = root.find("Text")
    assert text is not None and text.attrib == {"name": "text", "value": "$text", "granularity": "symbol"}


def test_other_schema_and_xml_escaping() -> None:
    schema = LabelSchema.from_dict(
        {
            "name": "tricky",
            "labels": [
                {"name": "A_1", "description": "Tên \"riêng\" & <thẻ> 'x'\nhai dòng", "color": "#000", "hotkey": "&"},
                {"name": "B", "description": "", "color": "#fff", "hotkey": ""},
            ],
        }
    )
    xml = labeling_config(schema)
    assert "OFFICIAL" not in xml  # nothing hard-coded from the default set
    root = ET.fromstring(xml)
    first, second = root.find("Labels").findall("Label")
    assert first.get("value") == "A_1" and first.get("hotkey") == "&"
    assert first.get("hint") == "Tên \"riêng\" & <thẻ> 'x'\nhai dòng"
    assert second.attrib == {"value": "B", "background": "#fff"}  # empty hotkey/hint are left out


def test_label_studio_sdk_parses_the_config() -> None:
    from label_studio_sdk.label_interface import LabelInterface

    schema = load_schema()
    interface = LabelInterface(labeling_config(schema))
    control = interface.get_control("label")
    assert control.to_name == ["text"]
    assert list(control.labels) == list(schema.names)
    assert interface.get_object("text").value == "$text"
