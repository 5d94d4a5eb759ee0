"""summary.json: validates against docs/summary.schema.json, and says what the records and manifest say.

``jsonschema`` is not a dependency, so the schema is checked by the small validator below; it refuses a
schema that uses a keyword it does not implement, so no part of the documented schema goes unchecked.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

import pytest

from auditor.report.gate import check, gate_summary, parse_rule, resolve
from auditor.report.summary import build_summary, flatten_figures, write_summary
from auditor.store.runs import Record, RunDir

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "summary.schema.json").read_text())
DOC = (ROOT / "docs" / "summary-schema.md").read_text()
KEYWORDS = {
    "$schema",
    "title",
    "description",
    "$defs",
    "type",
    "const",
    "enum",
    "pattern",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "$ref",
}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value: object, name: str) -> bool:
    if name in ("number", "integer"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and (name == "number" or float(value).is_integer())
    return isinstance(value, TYPES[name])


def validate(value: object, schema: dict, where: str = "$") -> list[str]:
    """Errors of ``value`` against ``schema`` (the JSON Schema keywords in KEYWORDS), as ``path: message``."""
    assert set(schema) <= KEYWORDS, f"unsupported keywords {set(schema) - KEYWORDS}"
    if "$ref" in schema:
        node: dict = SCHEMA
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        return validate(value, node, where)
    types = schema.get("type")
    if types is not None and not any(_is(value, t) for t in ([types] if isinstance(types, str) else types)):
        return [f"{where}: {value!r} is not of type {types}"]
    errs = []
    if "const" in schema and value != schema["const"]:
        errs.append(f"{where}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{where}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errs.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        errs += [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        props, extra = schema.get("properties", {}), schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                errs += validate(v, props[k], f"{where}.{k}")
            elif extra is False:
                errs.append(f"{where}: unexpected key {k!r}")
            elif isinstance(extra, dict):
                errs += validate(v, extra, f"{where}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errs += validate(v, schema["items"], f"{where}[{i}]")
    return errs


def _plain_run(tmp_path: Path) -> Path:
    run = RunDir(tmp_path / "run", {"command": "mia"})
    ck = {"source": "lab", "resolved": "/x/model", "fingerprint": "sha256:ab", "architecture": "LlamaForCausalLM"}
    run.update_manifest(checkpoint=ck)
    extra = {"n_members": 40, "n_nonmembers": 40}
    short = {"too short for prefix + suffix": 5}
    run.write(
        "dense",
        [
            Record("mia", "loss", "auc", 0.8, n=80, ci=(0.7, 0.9), extra=extra),
            Record("mia", "loss", "tpr@1%fpr", 0.1, n=80, ci=(0.0, 0.2), extra={**extra, "low_n": True}),
            Record("mia", "min_k@0.2", "auc", float("nan"), n=80, extra=extra),
            Record(
                "extraction",
                "extraction@prefix_len=16",
                "exact_extraction_rate",
                0.25,
                n=20,
                ci=(0.1, 0.5),
                extra={"prefix_len": 16},
                skipped=short,
            ),
            Record("exposure", "exposure", "exposure", 3.0, n=4),
            Record("exposure", "exposure", "max_possible", math.log2(1e4), n=4),
            Record("exposure", "exposure@max", "exposure", 13.0),
        ],
    )
    return run.path


def test_plain_run_summary_matches_schema_records_and_gate_paths(tmp_path: Path) -> None:
    run = _plain_run(tmp_path)
    mask = os.umask(0o077)  # a strict umask: the file is still 0644, readable by a CI uploader
    try:
        path = write_summary(run, command="mia", argv=["auditor", "mia", "--model", "lab"])
    finally:
        os.umask(mask)
    assert path == run / "summary.json" and stat.S_IMODE(path.stat().st_mode) == 0o644
    summary = json.loads(path.read_text())  # strict JSON: the NaN figure became null
    assert validate(summary, SCHEMA) == []
    assert summary["schema_version"] == 2 and summary["command"] == "mia" and summary["argv"][1] == "mia"
    assert summary["weights_fingerprint"] == summary["checkpoint"]["fingerprint"] == "sha256:ab"
    assert summary["checkpoint"]["path"] == "/x/model" and summary["gate"] is None and summary["compare"] == {}
    assert set(summary["versions"]) == {"memaudit", "torch", "transformers"} and summary["versions"]["memaudit"]
    figs = summary["figures"]
    assert figs["mia.loss.auc"] == {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9, "n": 80, "skipped": {}}
    assert figs["mia.loss.tpr@1%fpr"]["low_n"] is True
    assert figs["mia.min_k@0.2.auc"] == {"value": None, "n": 80, "skipped": {}}
    assert figs["mia.loss.n_members"] == {"value": 40} and figs["exposure.max"] == {"value": 13.0}
    rate = figs["extraction.exact_extraction_rate@16"]
    assert (rate["n"], rate["skipped"]) == (20, {"too short for prefix + suffix": 5})
    assert not any(k.endswith(("_n", "_skipped", "_ci", "_low_n")) for k in figs)  # evidence is never a figure
    tree = build_summary(run)["figures"]
    from auditor.report.figures import collect_figures

    raw, _ = collect_figures(run)
    for key, entry in tree.items():  # every key is a gate path; its CI bounds too
        if entry["value"] is not None:
            assert resolve(raw, key) == entry["value"], key
        for bound in ("ci_low", "ci_high"):
            if bound in entry:
                assert resolve(raw, f"{key}.{bound}") == entry[bound], key


def test_summary_carries_the_gate_verdict_and_the_audit_checkpoints(audit_run: Path) -> None:
    from auditor.report.figures import collect_figures

    figures, baseline = collect_figures(audit_run)
    rules = [parse_rule("mia.loss.auc.ci_low <= 0.6"), parse_rule("mia.loss.auc <= baseline + 0.5")]
    verdict = gate_summary(check(rules, figures, baseline, min_n=3))  # the hand-made run scored 3 texts
    summary = json.loads(write_summary(audit_run, gate=verdict).read_text())
    assert validate(summary, SCHEMA) == []
    assert summary["checkpoint"]["label"] == "cand" and summary["baseline"] == "prev"
    assert list(summary["compare"]) == ["prev"] and summary["compare"]["prev"]["figures"]
    assert summary["gate"]["passed"] is False and [r["passed"] for r in summary["gate"]["rules"]] == [False, True]
    assert [(r["status"], r["n"], r["skipped"]) for r in summary["gate"]["rules"]] == [("FAIL", 3, {}), ("PASS", 3, {})]
    assert summary["gate"]["status"] == "FAIL" and summary["gate"]["policy"] is None  # no Policy given
    # at the default minimum of 10 items, 3 texts cannot pass a rule (the relative one is INCONCLUSIVE), but the
    # failure they show outright stays a FAIL
    assert [r.status for r in check(rules, figures, baseline)] == ["FAIL", "INCONCLUSIVE"]
    (audit_run / "gate.json").write_text(json.dumps(verdict))  # without a verdict given: the run's gate.json
    assert build_summary(audit_run)["gate"]["rules"][0]["rule"] == "mia.loss.auc.ci_low <= 0.6"


def test_validator_catches_what_the_schema_forbids(tmp_path: Path) -> None:
    good = build_summary(_plain_run(tmp_path))
    bad = {**good, "schema_version": 1, "surprise": 1, "figures": {"a.b": {"value": "high"}}}
    del bad["versions"]
    errs = validate(bad, SCHEMA)
    assert any("schema_version" in e for e in errs) and any("surprise" in e for e in errs)
    assert any("missing 'versions'" in e for e in errs) and any("$.figures.a.b.value" in e for e in errs)
    assert validate({**good, "created": "yesterday"}, SCHEMA) != []


def test_every_key_is_documented() -> None:
    def keys(schema: dict) -> set[str]:
        out = set(schema.get("properties", {}))
        for sub in [*schema.get("properties", {}).values(), *SCHEMA["$defs"].values()]:
            out |= set(sub.get("properties", {}))
        return out

    for key in keys(SCHEMA):
        assert f"`{key}`" in DOC, key


@pytest.mark.parametrize(
    ("tree", "flat"),
    [
        (
            {"a": {"auc": 0.5, "auc_ci": [0.4, 0.6], "task": "x", "auc_low_n": False}},
            {"a.auc": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "low_n": False}},
        ),
        ({"m@0.2": {"n": 3, "x_ci": [0, 1]}}, {"m@0.2.n": {"value": 3}}),  # an interval without its figure: dropped
        (
            {"e": {"rate": 0.0, "rate_n": 1, "rate_skipped": {"too short": 39}, "rate_low_n": True, "x_n": 4}},
            {"e.rate": {"value": 0.0, "n": 1, "skipped": {"too short": 39}, "low_n": True}},
        ),
        ({"e": {"rate": None, "rate_n": 0}}, {"e.rate": {"value": None, "n": 0, "skipped": {}}}),
    ],
)
def test_flatten_figures(tree: dict, flat: dict) -> None:
    assert flatten_figures(tree) == flat
