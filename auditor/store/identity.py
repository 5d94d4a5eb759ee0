"""What a run's results depend on, by content: full sha256 hashes of its input files and checkpoints.

A run directory is resumed only when its identity is unchanged (:class:`auditor.store.runs.RunDir`). The
identity covers every option of the config *and* the content of every input it names: a members file
edited in place, a checkpoint replaced at the same path or a lab rebuilt give a different identity,
so old results are never presented as new ones.

Every file is hashed whole: each digest is a sha256 of every byte (nothing is sampled, so a change anywhere
in a 15 GB weight file shows). Digests are cached per user by path and stat
(:mod:`auditor.store.digest_cache`), so a rerun on unchanged files reads none of them again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from auditor.store.digest_cache import file_digest

__all__ = ["file_digest", "folder_fingerprint", "inputs_identity", "path_digest", "texts_digest", "tree_digest"]

SKIP_KEYS = frozenset({"out"})  # where results go is not an input
# the files of a checkpoint folder that make the model: weights, config, tokenizer, chat template, remote code
WEIGHT_SUFFIXES = tuple(".safetensors .bin .gguf .json .model .txt .pt .pth .py .tiktoken .jinja".split())


def folder_fingerprint(folder: Path) -> str:
    """sha256 over a checkpoint folder's files (config, tokenizer, weights: :data:`WEIGHT_SUFFIXES`), each by
    name, size and the sha256 of every byte (:func:`file_digest`, cached: a rerun does not reread the weights).
    """
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if not f.is_file() or f.suffix not in WEIGHT_SUFFIXES:
            continue
        h.update(f.name.encode("utf-8", "surrogatepass") + b"\0")
        h.update(str(f.stat().st_size).encode() + b"\0")
        h.update(file_digest(f).encode() + b"\0")
    return "sha256:" + h.hexdigest()


def tree_digest(folder: Path) -> str:
    """A folder's identity: a checkpoint (a ``config.json`` inside) by :func:`folder_fingerprint`; any other
    folder by every file's relative path and full sha256, a checkpoint inside it (a lab's ``model/``) once."""
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
