from __future__ import annotations

import json

import pytest

from auditor.errors import InputError
from auditor.inputs.data import load_texts


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_csv_txt_parquet_and_hf_load_the_same_texts(tmp_path):
    rows = [{"id": "a", "text": "hello world"}, {"id": "b", "text": "second, with comma"}]
    j = load_texts(_jsonl(tmp_path / "d.jsonl", rows))
    assert j.ids == ["a", "b"] and j.texts == ["hello world", "second, with comma"]

    import csv

    with open(tmp_path / "d.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["id", "text"])
        w.writeheader()
        w.writerows(rows)
    assert load_texts(tmp_path / "d.csv").texts == j.texts

    (tmp_path / "d.txt").write_text("hello world\n\nsecond, with comma\n")
    t = load_texts(tmp_path / "d.txt")
    assert t.texts == j.texts and t.ids == ["0", "1"]

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    assert load_texts(tmp_path / "d.parquet").ids == ["a", "b"]

    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    assert load_texts(tmp_path / "hf").texts == j.texts


def test_chosen_text_and_id_columns(tmp_path):
    p = _jsonl(tmp_path / "d.jsonl", [{"doc": "x y", "key": 7}, {"doc": "z", "key": 8}])
    s = load_texts(p, text_column="doc", id_column="key")
    assert s.ids == ["7", "8"] and s.texts == ["x y", "z"]


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_texts(tmp_path / "nope.jsonl")


def test_unknown_extension(tmp_path):
    (tmp_path / "d.xml").write_text("<a/>")
    with pytest.raises(InputError, match="unknown file type"):
        load_texts(tmp_path / "d.xml")


def test_missing_column_lists_the_columns(tmp_path):
    p = _jsonl(tmp_path / "d.jsonl", [{"id": 1, "body": "x"}])
    with pytest.raises(InputError, match=r"no column 'text'; columns are: body, id"):
        load_texts(p)


def test_missing_explicit_id_column(tmp_path):
    p = _jsonl(tmp_path / "d.jsonl", [{"text": "x"}])
    with pytest.raises(InputError, match="no id column 'uid'"):
        load_texts(p, id_column="uid")


def test_empty_set(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(InputError, match="empty"):
        load_texts(tmp_path / "e.jsonl")


def test_all_texts_blank(tmp_path):
    p = _jsonl(tmp_path / "d.jsonl", [{"text": "  "}, {"text": ""}])
    with pytest.raises(InputError, match="every text"):
        load_texts(p)


def test_non_string_values(tmp_path):
    p = _jsonl(tmp_path / "d.jsonl", [{"text": "ok"}, {"text": 12}])
    with pytest.raises(InputError, match="row 1 has a int"):
        load_texts(p)


def test_duplicate_ids(tmp_path):
    p = _jsonl(tmp_path / "d.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    with pytest.raises(InputError, match="duplicate ids.*a"):
        load_texts(p)


def test_bad_json_line_names_the_line(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\n{oops\n')
    with pytest.raises(InputError, match=r"d.jsonl:2: not valid JSON"):
        load_texts(tmp_path / "d.jsonl")
