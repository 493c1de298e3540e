"""vner records (CSV, JSON Lines, Parquet read back with pandas) and vner predict --records."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from corpus.jsonl import read_documents, write_documents
from corpus.paths import BUNDLED_GOLD_FILE
from models import load_model, predict
from models.record_tables import PEOPLE_COLUMNS, VALUE_COLUMNS

SEEDS = read_documents(BUNDLED_GOLD_FILE)


def _run(vner: str, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"COLUMNS": "300"}  # wide enough that table cells are not wrapped
    return subprocess.run([vner, *args], capture_output=True, text=True, timeout=300, env=env)


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
        for column in ("posts", "mentions"):
            if column in frame:
                frame[column] = frame[column].map(json.loads)
        return frame
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    frame = pd.read_parquet(path)  # list columns come back as numpy arrays
    for column in ("posts", "mentions"):
        if column in frame:
            frame[column] = frame[column].map(lambda items: [x.tolist() if hasattr(x, "tolist") else x for x in items])
    return frame


def test_vner_records_tables_read_back_with_pandas(vner: str, tmp_path: Path) -> None:
    expected = predict([d.text for d in SEEDS], load_model("rules"), records=True)
    n_people = sum(len(a["records"]["people"]) for a in expected)
    n_values = sum(len(a["records"]["values"]) for a in expected)
    tables = {}
    for suffix in ("csv", "jsonl", "parquet"):
        run = _run(vner, "records", "--corpus", str(BUNDLED_GOLD_FILE), "--out", str(tmp_path / f"records.{suffix}"),
                   "--model", "rules")
        assert run.returncode == 0, run.stderr
        assert f"{n_people} people -> " in run.stdout and f"{n_values} values -> " in run.stdout
        people = _read(tmp_path / f"records.people.{suffix}")
        values = _read(tmp_path / f"records.values.{suffix}")
        assert tuple(people.columns) == PEOPLE_COLUMNS and tuple(values.columns) == VALUE_COLUMNS
        assert len(people) == n_people and len(values) == n_values
        tables[suffix] = people, values
    for people, values in tables.values():
        tuan = people[(people.doc_id == "seed-001") & (people.name == "Hoàng Anh Tuấn")].iloc[0]
        assert list(tuan.posts) == ["Bí thư Huyện ủy", "Chủ tịch HĐND huyện", "Chủ tịch HĐND huyện Hậu Lộc"]
        assert tuan.n_mentions == 3 and [list(m) for m in tuan.mentions][0] == [int(tuan.start), int(tuan.end)]
        row = values[(values.doc_id == "seed-000") & (values.text == "164,5 tỷ đồng")].iloc[0]
        assert row.number == 164_500_000_000 and row.unit == "đồng" and row.period == "quý I-2023"
        text = SEEDS[0].text
        assert text[int(row.start):int(row.end)] == "164,5 tỷ đồng"
        assert text[int(row.period_start):int(row.period_end)] == "quý I-2023"
        by_doc = {doc.id: doc.text for doc in SEEDS}
        assert all(by_doc[d][int(s):int(e)] == t for d, s, e, t in zip(values.doc_id, values.start, values.end,
                                                                          values.text, strict=True))


def test_vner_records_refuses_bad_out_and_names_a_broken_store(vner: str, tmp_path: Path) -> None:
    run = _run(vner, "records", "--corpus", str(BUNDLED_GOLD_FILE), "--out", str(tmp_path / "records.xlsx"),
               "--model", "rules")
    assert run.returncode == 2 and "--out must end in .csv, .jsonl, .parquet" in run.stderr
    store = tmp_path / "store.jsonl"
    write_documents(store, SEEDS[:1])
    with open(store, "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    run = _run(vner, "records", "--corpus", str(store), "--out", str(tmp_path / "r.csv"), "--model", "rules")
    assert run.returncode == 2 and f"{store}:2" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_vner_predict_records(vner: str, tmp_path: Path, fmt: str) -> None:
    article = tmp_path / "article.txt"
    article.write_text(SEEDS[1].text, encoding="utf-8")
    run = _run(vner, "predict", str(article), "--model", "rules", "--records", "--format", fmt)
    assert run.returncode == 0, run.stderr
    if fmt == "jsonl":
        answer = json.loads(run.stdout)
        assert answer == {"id": "article.txt"} | predict(SEEDS[1].text, load_model("rules"), records=True)
    else:
        assert "article.txt: people" in run.stdout and "article.txt: values" in run.stdout
        assert "Hoàng Anh Tuấn" in run.stdout and "Bí thư Huyện ủy; Chủ tịch HĐND huyện" in run.stdout
    html = _run(vner, "predict", str(article), "--model", "rules", "--records", "--format", "html")
    assert html.returncode == 2 and "--records" in html.stderr
