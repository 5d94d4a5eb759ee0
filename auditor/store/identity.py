"""What a run's results depend on, by content: file hashes and checkpoint fingerprints.

A run directory is resumed only when its identity is unchanged (:class:`auditor.store.runs.RunDir`). The
identity covers every option of the config *and* the content of every input it names: a members file
edited in place, a checkpoint replaced at the same path or a lab rebuilt give a different identity,
so old results are never presented as new ones.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1 << 20
SKIP_KEYS = frozenset({"out"})  # where results go is not an input
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".json", ".model", ".txt", ".pt", ".pth")


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks (a 10 GiB data file never sits in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def folder_fingerprint(folder: Path) -> str:
    """sha256 over a checkpoint folder's small files whole and, per weight file, name, size, first and last MiB.

    Cheap for a 70B checkpoint, and it changes when the weights, config or tokenizer do.
    """
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if not f.is_file() or f.suffix not in WEIGHT_SUFFIXES:
            continue
        h.update(f.name.encode())
        size = f.stat().st_size
        h.update(str(size).encode())
        with open(f, "rb") as fh:
            if size <= 2 * CHUNK:
                h.update(fh.read())  # small files whole (a first-MiB-only read missed a 1-2 MiB file's tail)
            else:
                h.update(fh.read(CHUNK))
                fh.seek(-CHUNK, os.SEEK_END)
                h.update(fh.read())
    return "sha256:" + h.hexdigest()


def tree_digest(folder: Path) -> str:
    """A folder's identity: checkpoints (a ``config.json`` inside) by fingerprint, other files whole."""
    if (folder / "config.json").is_file():
        return folder_fingerprint(folder)
    h = hashlib.sha256()
    checkpoints: dict[Path, str] = {}  # a checkpoint inside (a lab's model/): fingerprinted once, not per shard
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".memaudit")):
        h.update(str(f.relative_to(folder)).encode() + b"\0")
        sub = f.parent
        if f.suffix in (".safetensors", ".bin", ".gguf") and (sub / "config.json").is_file():
            if sub not in checkpoints:
                checkpoints[sub] = folder_fingerprint(sub)
                h.update(checkpoints[sub].encode())
        else:
            h.update(file_digest(f).encode())
    return "sha256:" + h.hexdigest()


def path_digest(value: str) -> str | None:
    """The content identity of ``value`` if it names an existing file or folder, else None."""
    try:
        p = Path(value).expanduser()
        if p.is_file():
            return file_digest(p)
        if p.is_dir():
            return tree_digest(p)
    except (OSError, ValueError):
        return None
    return None


def _strings(obj: object, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if str(k) not in SKIP_KEYS:
                yield from _strings(v, f"{prefix}{k}.")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{prefix}{i}.")
    elif isinstance(obj, str) and obj:
        yield prefix.rstrip("."), obj


def inputs_identity(config: dict, extra_paths: dict[str, str | Path] | None = None) -> dict[str, str]:
    """``{config key: content digest}`` for every value of ``config`` naming an existing file or folder,
    plus ``extra_paths`` (inputs resolved outside the config, such as the shipped lab)."""
    out: dict[str, str] = {}
    for key, value in _strings(config):
        digest = path_digest(value)
        if digest:
            out[key] = digest
    for key, value in (extra_paths or {}).items():
        digest = None if key in out else path_digest(str(value))  # a path the config names is hashed once
        if digest:
            out[key] = digest
    return out


def texts_digest(texts: Iterable[str]) -> str:
    """The identity of texts given in memory (the Python API)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\0")
    return "sha256:" + h.hexdigest()
