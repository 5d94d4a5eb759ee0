"""Before a report is built: every JSON file of the run must read whole, or the report refuses.

A report reads the manifest (what was audited), ``audit.json`` (the checkpoints), ``gate.json`` (the
verdict); the family files (``mia.json``, ``extraction.json``, ``sweep.json``, ...) and ``summary.json`` are
the same run's outputs. Any of them cut short or overwritten with something else means the run folder is
damaged: a report built over it would quietly drop the verdict or the manifest and still look complete.
So :func:`check_run_files` names the first damaged file and the fix in one line (an ``InputError``: the
CLI prints it and exits 2). The unit logs (``records.jsonl``, ``samples/*.jsonl``) are not checked here:
a run stopped mid-unit leaves a partial last unit there by design, which readers skip.
"""

from __future__ import annotations

import json
from pathlib import Path

from auditor.errors import InputError

SUBFOLDERS = ("checkpoints/*", "gates")  # an audit's checkpoint folders; the gate verdicts of `auditor gate`


def _json_files(run: Path) -> list[Path]:
    folders = [run, *(p for pattern in SUBFOLDERS for p in sorted(run.glob(pattern)) if p.is_dir())]
    return [f for d in folders for f in sorted(d.glob("*.json")) if f.is_file()]


def _problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as JSON, or None when it can."""
    try:
        json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except json.JSONDecodeError as e:
        return "empty" if not e.doc.strip() else f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    return None


def check_run_files(run: Path) -> None:
    """Raise ``InputError`` naming the first JSON file of ``run`` that cannot be read, and how to rebuild it."""
    for path in _json_files(run):
        why = _problem(path)
        if why and path.parent.name == "gates":
            raise InputError(f"{path} is damaged ({why}); rerun `auditor gate {run} --policy POLICY` to rewrite it")
        if why:
            raise InputError(
                f"{path} is damaged ({why}); no report was written. Rerun the command that made this run with the "
                f"same --out (it resumes and rewrites the file), or with --overwrite to start the run again"
            )
