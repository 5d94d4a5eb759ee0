"""Atomic file writes: readers see the old file or the whole new one, never half of it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import auditor.store.parallel as parallel


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | Path, obj: object) -> None:
    """Write JSON so that readers see either the old file or the whole new one."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over: never a half-written file.

    The file gets the mode a plain ``open`` would give (0666 minus the umask, usually 0644), not
    ``mkstemp``'s 0600, so a CI uploader running as another user can read it. Under data parallelism only
    the main process writes."""
    if not parallel.is_main():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish_modes(folder: str | Path) -> None:
    """Give a finished output folder the modes plain ``mkdir``/``open`` would (0777/0666 minus the umask,
    usually 0755/0644): staging folders come from ``mkdtemp`` (0700) and some writers (safetensors) create
    their files 0600, which a CI uploader or colleague running as another user could not read."""
    mask = _umask()
    root = Path(folder)
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)
