"""How the package is installed: every package is listed, and a user's own ``tasks.py`` or ``pruning.py``
cannot shadow ours (the repository's ``pruning/`` and ``tasks/`` install as ``auditor.pruning`` and
``auditor.tasks``)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _package_name(folder: Path) -> str:
    parts = list(folder.relative_to(ROOT).parts)
    if parts[0] in ("pruning", "tasks"):
        parts.insert(0, "auditor")
    return ".".join(parts)


def test_pyproject_lists_every_package() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    inits = [p for top in ("auditor", "pruning", "tasks") for p in (ROOT / top).rglob("__init__.py")]
    found = {_package_name(p.parent) for p in inits}
    assert set(cfg["packages"]) == found
    assert cfg["package-dir"] == {"auditor.pruning": "pruning", "auditor.tasks": "tasks"}


def test_user_tasks_and_pruning_modules_do_not_shadow_ours(tmp_path: Path) -> None:
    for name in ("tasks", "pruning"):  # a user's own modules, which fail loudly if ours resolve to them
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the user {name}.py was imported')\n")
    code = (
        "import auditor.cli.audit, auditor.cli.capability, auditor.cli.prune, auditor.pipeline.sweep\n"
        "from auditor.tasks import tasks_dir\n"
        "from auditor.pruning import PRUNERS\n"
        "assert (tasks_dir() / 'configs' / 'demo-audit.yaml').is_file()\n"
        "assert 'wanda' in PRUNERS.names()\n"
        "print('ours resolved')\n"
        "import tasks\n"  # the user's module is still theirs: this raises its error
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == "ours resolved", r.stderr
    assert r.returncode == 1 and "the user tasks.py was imported" in r.stderr
