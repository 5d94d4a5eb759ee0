"""Where a gate's verdict is kept: one file per policy, and the run's own verdict.

``RUN/gates/<sha256[:12]>.json`` holds the verdict of every policy the run was checked against (the policy's
source, hash and rules in it, :meth:`auditor.report.policy.Policy.record`), so checking a run against another
policy never changes its own verdict. ``RUN/gate.json`` (and the gate section of ``RUN/summary.json``, which
the report's banner follows) is the run's own verdict: the audit config's policy, or a policy given with
``auditor gate RUN --policy P --replace``.
"""

from __future__ import annotations

import json
from pathlib import Path

from auditor.report.summary import write_summary
from auditor.store.atomic import atomic_write_json

GATES = "gates"
GATE = "gate.json"


def policy_file(run: Path, summary: dict) -> Path:
    """``RUN/gates/<policy sha256[:12]>.json`` for a verdict; ``unnamed`` when it names no policy."""
    sha = (summary.get("policy") or {}).get("sha256") or "unnamed"
    return Path(run) / GATES / f"{sha[:12]}.json"


def write_gate(run: Path, summary: dict, *, replace: bool) -> Path:
    """Write the verdict to its policy's file and, with ``replace``, make it the run's own verdict (``gate.json``
    and ``summary.json``); returns the policy's file."""
    path = policy_file(run, summary)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, summary)
    if replace:
        atomic_write_json(Path(run) / GATE, summary)
        write_summary(run, gate=summary)
    return path


def own_verdict(run: Path) -> tuple[str, str] | None:
    """The status and policy source of the run's own verdict (``RUN/gate.json``), if it has a readable one."""
    try:
        kept = json.loads((Path(run) / GATE).read_text(encoding="utf-8"))
        return str(kept["status"]), str((kept.get("policy") or {}).get("source") or "recorded")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
