"""predict(records=True) and POST /predict with "records": true, on the rules engine and a seed article."""

from __future__ import annotations

import unicodedata

from fastapi.testclient import TestClient

from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from models import load_model, predict
from models.service import create_app

SEED = read_documents(BUNDLED_GOLD_FILE)[1]


def _check_records(text: str, answer: dict) -> None:
    """Every offset in the answer indexes ``text``; relations link entities; records agree with both."""
    entities = {(e["start"], e["end"]): e for e in answer["entities"]}
    for relation in answer["relations"]:
        head, tail = entities[tuple(relation["head"])], entities[tuple(relation["tail"])]
        assert (head["label"], tail["label"]) in {("OFFICIAL", "POSITION"), ("FIGURE", "DATE"), ("TARGET", "DATE")}
    people, values = answer["records"]["people"], answer["records"]["values"]
    for person in people:
        for mention in person["mentions"]:
            assert entities[(mention["start"], mention["end"])]["label"] == "OFFICIAL"
            assert unicodedata.normalize("NFC", text[mention["start"]:mention["end"]]).split() == person["name"].split()
    assert [(v["start"], v["end"]) for v in values] == [
        (e["start"], e["end"]) for e in answer["entities"] if e["label"] in ("FIGURE", "TARGET")
    ]
    for value in values:
        assert value["text"] == text[value["start"]:value["end"]]
        if value["period"]:
            p = value["period"]
            assert {"head": [value["start"], value["end"]], "tail": [p["start"], p["end"]], "type": "PERIOD"} in [
                {k: r[k] for k in ("head", "tail", "type")} for r in answer["relations"]
            ]


def test_predict_records_shape_and_plain_predict_unchanged() -> None:
    model = load_model("rules")
    plain = predict(SEED.text, model)
    answer = predict(SEED.text, model, records=True)
    assert isinstance(plain, list) and answer["entities"] == plain
    assert set(answer) == {"entities", "relations", "records"}
    _check_records(SEED.text, answer)
    tuan = next(p for p in answer["records"]["people"] if p["name"] == "Hoàng Anh Tuấn")
    assert "Bí thư Huyện ủy" in tuan["posts"] and len(tuan["mentions"]) == 3
    both = predict([SEED.text, "Không có gì."], model, records=True)
    assert both[0] == answer and both[1]["records"] == {"people": [], "values": []}


def test_predict_records_offsets_follow_a_decomposed_crlf_text() -> None:
    text = unicodedata.normalize("NFD", SEED.text).replace("\n", "\r\n")
    answer = predict(text, load_model("rules"), records=True)
    assert answer["records"]["people"] and answer["relations"]
    _check_records(text, answer)


def test_http_predict_with_and_without_records() -> None:
    client = TestClient(create_app("rules"))
    plain = client.post("/predict", json={"text": SEED.text})
    assert plain.status_code == 200 and set(plain.json()) == {"entities"}
    answer = client.post("/predict", json={"text": SEED.text, "records": True}).json()
    expected = predict(SEED.text, load_model("rules"), records=True)
    expected["relations"] = [r | {"score": None} for r in expected["relations"]]  # the response model's default
    assert answer == expected
    _check_records(SEED.text, answer)
    many = client.post("/predict", json={"texts": [SEED.text, "x"], "records": True}).json()
    assert many["results"][0] == answer and many["results"][1]["entities"] == []
    bad = client.post("/predict", json={"text": "x", "records": "maybe"})
    assert bad.status_code == 422 and "records" in bad.json()["error"]
    spec = client.get("/openapi.json").json()
    assert {"RecordsResponse", "PersonRecord", "ValueRecordOut"} <= set(spec["components"]["schemas"])
