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
    relations = root.find("Relations")
    assert relations is not None and relations.get("choice") == "single"
    assert (
        [el.get("value") for el in relations.findall("Relation")] == list(schema.relation_names) == ["HOLDS", "PERIOD"]
    )


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
    assert "OFFICIAL" not in xml and "Relation" not in xml  # nothing hard-coded from the default set
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


def test_relation_types_come_from_the_schema_file() -> None:
    schema = LabelSchema.from_dict(
        {
            "labels": [{"name": "A"}, {"name": "B"}],
            "relations": [{"name": "LINKS_TO", "head": ["A"], "tail": ["B"]}],
        }
    )
    root = ET.fromstring(labeling_config(schema))
    assert [el.get("value") for el in root.iter("Relation")] == ["LINKS_TO"]


def test_label_studio_sdk_accepts_a_draft_with_relations() -> None:
    """A pre-annotation with arrows is valid for the config (regions by id); a dangling arrow is not."""
    from label_studio_sdk.label_interface import LabelInterface

    from annotation.tasks import prediction_payload
    from corpus.document import Relation

    schema = load_schema()
    text = "Đồng chí Hoàng Anh Tuấn, Bí thư Huyện ủy phát biểu. Năm 2023, thu ngân sách đạt 150 tỷ đồng."
    name, post = text.index("Hoàng"), text.index("Bí thư")
    year, money = text.index("Năm 2023"), text.index("150 tỷ")
    entities = [
        {"start": name, "end": name + 14, "label": "OFFICIAL"},
        {"start": post, "end": post + 15, "label": "POSITION"},
        {"start": year, "end": year + 8, "label": "DATE"},
        {"start": money, "end": money + 11, "label": "FIGURE"},
    ]
    relations = [
        Relation((name, name + 14), (post, post + 15), "HOLDS"),
        Relation((money, money + 11), (year, year + 8), "PERIOD"),
        Relation((post, post + 15), (name, name + 14), "HOLDS"),  # POSITION -> OFFICIAL: refused
    ]
    payload, refused = prediction_payload(text, entities, "v1", schema, relations)
    assert [str(problem) for problem in refused] == [
        f"HOLDS [{post}:{post + 15}] -> [{name}:{name + 14}]: "
        "links POSITION -> OFFICIAL; HOLDS links OFFICIAL -> POSITION"
    ]
    arrows = [item for item in payload["result"] if item["type"] == "relation"]
    ids = {item["id"]: item["value"]["text"] for item in payload["result"] if item["type"] == "labels"}
    assert [(ids[a["from_id"]], ids[a["to_id"]], a["labels"], a["direction"]) for a in arrows] == [
        ("Hoàng Anh Tuấn", "Bí thư Huyện ủy", ["HOLDS"], "right"),
        ("150 tỷ đồng", "Năm 2023", ["PERIOD"], "right"),
    ]
    interface = LabelInterface(labeling_config(schema))
    assert interface.validate_prediction(payload, return_errors=True) == []
    arrows[0]["to_id"] = "nowhere"
    assert interface.validate_prediction(payload, return_errors=True)
