"""Full-content sha256 of files, cached per user so that a rerun does not rehash an unchanged 15 GB checkpoint.

Every digest is a sha256 over every byte of the file, read in 1 MiB chunks. It is remembered under
``<cache>/digests/`` (``<cache>``: ``$MEMAUDIT_CACHE_DIR``, else ``$MEMAUDIT_CACHE``, else
``$XDG_CACHE_HOME/memaudit``, else ``~/.cache/memaudit``), one small JSON per file path, keyed by what the file
system says about the file: the absolute resolved path, size, ``st_mtime_ns``, ``st_ino``, ``st_ctime_ns`` and
``st_dev``. Writing to the file, or replacing it at the same path, changes one of these, and the file is hashed
again; ``touch`` does too. A digest is remembered only when the file did not change while it was read and its
last change is at least :data:`RACY_S` seconds old (a file rewritten within one tick of the file system's
clock could otherwise keep its stat and a stale digest, git's "racily clean" problem).

The cache is an optimisation, never a requirement: a cache folder that cannot be read or written (a read-only
home, a full disk, a corrupt entry) is ignored and the file is hashed. Digests are also remembered in memory,
with the same key, for the life of the process: a checkpoint named twice in one run (as an input file and as
the model) is read once even then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import BinaryIO

from auditor.store.atomic import atomic_write_text

log = logging.getLogger(__name__)

CHUNK = 1 << 20
RACY_S = 2.0  # a file changed less than this long ago is hashed but not remembered
VERSION = 1
_ERRORS = (OSError, ValueError, TypeError, KeyError, RuntimeError)
_MEMO: dict[tuple[str, tuple[int, ...]], str] = {}  # (real path, stat key) -> digest, for this process


def cache_dir() -> Path | None:
    """The digest cache folder, or None when no home or cache folder can be named."""
    try:
        env = os.environ.get("MEMAUDIT_CACHE_DIR") or os.environ.get("MEMAUDIT_CACHE")
        if env:
            return Path(env).expanduser() / "digests"
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
        return base / "memaudit" / "digests"
    except _ERRORS:  # no HOME and no passwd entry
        return None


def sha256_of(fh: BinaryIO) -> str:
    """``sha256:<hex>`` of every byte an open binary file has from its position on, read in 1 MiB chunks."""
    h = hashlib.sha256()
    while chunk := fh.read(CHUNK):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, st.st_dev]


def _entry(folder: Path, real: str) -> Path:
    return folder / (hashlib.sha256(real.encode("utf-8", "surrogatepass")).hexdigest()[:32] + ".json")


def _lookup(entry: Path, real: str, key: list[int]) -> str | None:
    """The remembered digest of ``real`` if the entry is for this path with this stat, else None."""
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
        digest = data["digest"]
        if data.get("v") != VERSION or data["path"] != real or data["stat"] != key:
            return None
        if isinstance(digest, str) and digest.startswith("sha256:") and len(digest) == 71:
            return digest
    except _ERRORS:  # missing, unreadable or corrupt: hash the file
        return None
    return None


def _remember(entry: Path, real: str, key: list[int], digest: str) -> None:
    """Write the entry atomically; any failure (read-only cache, full disk) is logged and ignored."""
    try:
        atomic_write_text(entry, json.dumps({"v": VERSION, "path": real, "stat": key, "digest": digest}))
    except _ERRORS as e:
        log.debug("digest cache not written (%s): %s", entry, e)


def file_digest(path: str | Path) -> str:
    """``sha256:<hex>`` of every byte of ``path``: remembered from an earlier call when the file's stat is
    unchanged, else computed (and remembered). Symlinks are followed (a hub snapshot's files are links)."""
    real = os.path.realpath(Path(path).expanduser())
    folder = cache_dir()
    with open(real, "rb") as fh:
        key = _stat_key(os.fstat(fh.fileno()))
        entry = _entry(folder, real) if folder is not None else None
        cached = _MEMO.get((real, tuple(key))) or (_lookup(entry, real, key) if entry is not None else None)
        if cached is not None:
            return cached
        digest = sha256_of(fh)
        after = _stat_key(os.fstat(fh.fileno()))
    if after == key and time.time_ns() - max(key[1], key[3]) >= RACY_S * 1e9:  # unchanged while read, settled
        _MEMO[(real, tuple(key))] = digest
        if entry is not None:
            _remember(entry, real, key, digest)
    return digest
