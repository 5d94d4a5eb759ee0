"""The README's "Audit your checkpoint" example, run as written on a tiny local model and JSONL files.

The YAML block and the command are read from README.md (the block after the ``audit-your-checkpoint``
marker), so the documented example cannot drift from what works. Only the paths are replaced: the model
folder by a tiny random Llama, the data files by files written here, and ``--device cuda`` by ``cpu``.
"""

from __future__ import annotations

import json
import random
import re
import shlex
from pathlib import Path

import pytest
import yaml

from auditor.cli import main

ROOT = Path(__file__).resolve().parents[1]
WORDS = "river mill stone bridge lantern orchard harbor meadow valley forest quiet amber silver winter".split()


def _readme_example() -> tuple[str, list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split("<!-- audit-your-checkpoint", 1)[1]
    config = re.search(r"```yaml\n(.*?)```", after, re.S).group(1)
    command = re.search(r"```bash\n(.*?)```", after, re.S).group(1).strip()
    return config, shlex.split(command)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _texts(rng: random.Random, n: int, tag: str) -> list[dict]:
    return [{"id": f"{tag}{i}", "text": " ".join(rng.choice(WORDS) for _ in range(90))} for i in range(n)]


@pytest.mark.slow
def test_the_readme_audit_example_runs_on_a_local_checkpoint(tiny_model_dir, tmp_path, monkeypatch, capsys):
    config_text, argv = _readme_example()
    assert argv[:3] == ["auditor", "audit", "my-audit.yaml"] and "--device" in argv
    config = yaml.safe_load(config_text)
    assert config["model"] == "./my-checkpoint" and config["policy"]["rules"]

    monkeypatch.chdir(tmp_path)  # the example's relative paths: ./my-checkpoint, data/, reports/
    (tmp_path / "my-checkpoint").symlink_to(tiny_model_dir, target_is_directory=True)
    rng = random.Random(0)
    # enough texts and canaries for the example policy to decide: at least its min_n, and an extraction rate of
    # 0 of 100 texts has a 95% CI narrow enough ([0, 0.037]) to lie under 0.05
    _write_jsonl(tmp_path / "data" / "members.jsonl", _texts(rng, 100, "m"))
    _write_jsonl(tmp_path / "data" / "nonmembers.jsonl", _texts(rng, 100, "n"))
    prefix = "The door code of the old mill is"
    canaries = [
        {"id": f"c{i}", "prefix": prefix, "secret": f" {rng.randrange(10**4):04d}", "repeats": 1 + i % 8}
        for i in range(40)
    ]
    _write_jsonl(tmp_path / "data" / "canaries.jsonl", canaries)
    (tmp_path / "my-audit.yaml").write_text(config_text, encoding="utf-8")

    args = [x if x != "cuda" else "cpu" for x in argv[1:]]
    rc = main(args)
    out = capsys.readouterr().out
    assert rc == 0, out  # a random model memorizes nothing: every rule of the example policy passes
    run = tmp_path / config["out"]
    for name in ("report.html", "summary.json", "gate.json", "records.jsonl"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["gate"]["passed"] is True and "mia.loss.auc" in summary["figures"]
    assert {r["status"] for r in summary["gate"]["rules"]} == {"PASS"}
    assert summary["figures"]["extraction.exact_extraction_rate"]["n"] == 100
    assert "PASS" in out and "LOSS AUC" in out  # the rules and the closing table
    assert "door code" not in (run / "report.html").read_text()  # shared report: texts redacted
