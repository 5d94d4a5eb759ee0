"""The Python API on plain inputs: lists of strings in, dicts out, nothing on disk unless ``out`` is given."""

from __future__ import annotations

import tempfile

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

import auditor

MEMBERS = [f"member text {i} about the river and the old mill, with a few more words" for i in range(8)]
NONMEMBERS = [f"other text {i} about a mountain road and a small inn, with a few more words" for i in range(8)]


@pytest.fixture()
def loaded(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture()
def private_tmp(tmp_path, monkeypatch):
    """Where temporary run folders go, so a test can see that none is left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_mia_on_lists_returns_a_dict_and_leaves_nothing(loaded, private_tmp) -> None:
    res = auditor.mia(*loaded, MEMBERS, NONMEMBERS, attacks=["loss", "zlib"], n_boot=50)
    assert set(res) >= {"loss", "zlib"} and 0.0 <= res["loss"]["auc"] <= 1.0
    assert len(res["loss"]["auc_ci"]) == 2
    assert list(private_tmp.iterdir()) == []


def test_extract_on_lists(loaded, private_tmp) -> None:
    res = auditor.extract(*loaded, MEMBERS, prefix_lens=[4], suffix_len=4)
    assert res["n"] == len(MEMBERS) and 0.0 <= res["exact_extraction_rate"] <= 1.0
    assert list(private_tmp.iterdir()) == []


def test_sweep_on_lists_returns_records_per_point(loaded, private_tmp, tmp_path) -> None:
    res = auditor.sweep(*loaded, families=["mia", "extraction"], methods=["magnitude"], sparsities=[0.0, 0.5],
                        members=MEMBERS, nonmembers=NONMEMBERS, texts=MEMBERS,
                        config={"mia": {"attacks": ["loss"], "n_boot": 50},
                                "extraction": {"prefix_lens": [4], "suffix_len": 4}})  # fmt: skip
    mia = [r for r in res["records"] if r["family"] == "mia" and r["metric"] == "auc"]
    aucs = {r["requested_sparsity"]: r["value"] for r in mia}
    assert set(aucs) == {0.0, 0.5} and res["out"] is None
    assert not any(k.startswith("_") for r in res["records"] for k in r)
    assert list(private_tmp.iterdir()) == []
    kept = auditor.sweep(*loaded, families=["mia"], methods=["magnitude"], sparsities=[0.5], members=MEMBERS,
                         nonmembers=NONMEMBERS, config={"mia": {"attacks": ["loss"], "n_boot": 50}},
                         out=tmp_path / "run")  # fmt: skip
    assert kept["out"] == str(tmp_path / "run") and (tmp_path / "run" / "records.jsonl").is_file()
    again = auditor.sweep(*loaded, families=["mia"], methods=["magnitude"], sparsities=[0.5], members=MEMBERS,
                          nonmembers=NONMEMBERS, config={"mia": {"attacks": ["loss"], "n_boot": 50}},
                          out=tmp_path / "run")  # fmt: skip  # the same lists: resumed, not refused
    assert again["records"] == kept["records"]


def test_audit_on_lists_returns_the_gate(loaded, private_tmp) -> None:
    config = {"mia": {"attacks": ["loss"], "n_boot": 50}, "sweep": {"enabled": False}}
    ok = auditor.audit(*loaded, config, members=MEMBERS, nonmembers=NONMEMBERS, policy=["mia.loss.auc <= 1.0"])
    assert ok["gate"]["passed"] is True and ok["out"] is None
    bad = auditor.audit(*loaded, config, members=MEMBERS, nonmembers=NONMEMBERS, policy=["mia.loss.auc <= 0.0"])
    assert bad["gate"]["passed"] is False
    assert list(private_tmp.iterdir()) == []
