"""A redacted (shareable) report names no folder of the machine that made the run: checkpoint folders, data
files and output folders appear by their last component only; hub ids and plain words stay."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.report.build import write_report
from auditor.report.redact import is_local_path, scrub_paths


def test_local_paths_are_told_from_hub_ids(tmp_path: Path) -> None:
    assert is_local_path("/home/alice/ckpts/secret-project/model")
    assert is_local_path("./my-checkpoint") and is_local_path("../data/x.jsonl") and is_local_path("~/m")
    assert is_local_path("data/members.jsonl") and is_local_path(str(tmp_path))
    assert not is_local_path("HuggingFaceTB/SmolLM2-135M") and not is_local_path("loss")
    assert not is_local_path("min_k_pp@0.2") and not is_local_path("")
    nested = {"a": ["/srv/x/y.gguf", "org/name"], "b": {"c": "./run"}, "n": 3, "s": "cand (/srv/m/model)"}
    assert scrub_paths(nested) == {
        "a": ["<local path .../y.gguf>", "org/name"],
        "b": {"c": "<local path .../run>"},
        "n": 3,
        "s": "cand (<local path .../model>)",
    }


def test_redacted_report_holds_no_local_path(audit_run: Path) -> None:
    secret = "/home/alice/ckpts/secret-project-7"
    for manifest_path in [audit_run / "manifest.json", *audit_run.glob("checkpoints/*/manifest.json")]:
        m = json.loads(manifest_path.read_text())
        m.setdefault("config", {})["model"] = f"{secret}/model"
        m["checkpoint"] = {**m.get("checkpoint", {}), "source": f"{secret}/model", "resolved": f"{secret}/model"}
        m["checkpoint"]["notes"] = [f"converted {secret}/model.gguf once"]
        manifest_path.write_text(json.dumps(m))
    html = write_report(audit_run).read_text(encoding="utf-8")
    md = (audit_run / "report.md").read_text(encoding="utf-8")
    for text in (html, md):
        assert "secret-project-7" not in text and "/home/alice" not in text
        assert "local path .../model" in text
    full = write_report(audit_run, redact=False).read_text(encoding="utf-8")
    assert f"{secret}/model" in full  # the unredacted report, for its owners, keeps the paths
