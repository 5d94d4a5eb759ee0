"""Redaction of memorized and extracted texts: a coarse length and a tag keyed with a per-report salt.

The report redacts by default (``build_document(run, redact=True)``); a caller passes ``redact=False`` only
for a report that stays with whoever may read the training data. A redacted report also names no local
path (:func:`scrub_paths`): the checkpoint's folder, data files and output folder appear by their last
component only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path, PurePath
from typing import Any

SALT_BYTES = 16
LENGTH_BUCKETS = (16, 64, 256, 1024)  # redact_text says "under N chars" for the first bound above the length


def new_salt() -> bytes:
    """A fresh redaction salt: ``build_document`` draws one per document and never writes it out."""
    return secrets.token_bytes(SALT_BYTES)


def _length_bucket(n: int) -> str:
    bound = next((b for b in LENGTH_BUCKETS if n < b), None)
    return f"under {bound} chars" if bound else f"{LENGTH_BUCKETS[-1]}+ chars"


def redact_text(text: str, salt: bytes) -> str:
    """``[redacted: under 64 chars, tag 0123abcd4567]``: which rows hold the same text, and nothing to read.

    The tag is HMAC-SHA256 of the text keyed with ``salt`` (a per-report random secret from
    :func:`new_salt`), cut to 12 hex digits. Within one report equal texts get equal tags, so a reader can
    see that two rows hold the same text; without the salt a tag cannot be checked against a guess (an
    unsalted hash of a 4-digit secret falls to 10^4 tries), and tags differ between reports. The price:
    a tag can no longer be matched against a file. The length is deliberately not given exactly, only as
    a coarse bucket (under 16, 64, 256 or 1024 chars, or 1024+), which narrows no guess to one length.
    """
    if len(salt) < SALT_BYTES:
        raise ValueError(f"a redaction salt needs at least {SALT_BYTES} random bytes (new_salt())")
    tag = hmac.new(salt, text.encode("utf-8"), hashlib.sha256).hexdigest()[:12]
    return f"[redacted: {_length_bucket(len(text))}, tag {tag}]"


_DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt", ".gguf", ".yaml", ".yml", ".safetensors", ".bin")
_WORDS = re.compile(r"([\s()\[\],;\"'<>|=]+)")
_ABSOLUTE = re.compile(r"^(~|/|[A-Za-z]:[\\/]|\.{1,2}[\\/])")
_ROOT_NAME = re.compile(r"^/[^/\\]*$")  # "/name": a path only where it exists


def is_local_path(text: str) -> bool:
    """Whether a string names a place on the machine that made the run: an absolute or ``./`` path, a file
    path with a data or weights suffix, or any path with a separator that exists here. A hub id
    (``org/name``) that is not a folder here is not one, nor is one name under the root that does not exist
    here (``/script`` of a ``</script>`` tag)."""
    if not text or "\n" in text or len(text) > 4096 or text.startswith(".../"):
        return False  # ``.../NAME``: what path_tag left of a path
    if text.rstrip("/\\") in ("", "~", ".", ".."):
        return False  # a slash in a sentence ("0.3 / -"), or a root that names no one's folder
    if _ABSOLUTE.match(text):
        return not _ROOT_NAME.match(text) or _exists(text)
    if "/" not in text and "\\" not in text:
        return False
    return text.lower().endswith(_DATA_SUFFIXES) or _exists(text)


def _exists(text: str) -> bool:
    try:
        return Path(text).exists()
    except OSError:
        return False


def path_tag(path: str) -> str:
    """``<local path .../NAME>``: a path by its last component only."""
    return f"<local path .../{PurePath(path).name}>"


def scrub_paths(value: Any) -> Any:
    """``value`` (a JSON-like structure) with every local path replaced by ``<local path .../NAME>``, keeping only
    the last component, so a shareable report names the file without the machine's folders."""
    if isinstance(value, str):
        if is_local_path(value) and not any(c.isspace() for c in value):
            return path_tag(value)
        parts = _WORDS.split(value)  # a path inside a sentence: "cand (/home/x/model)", "converted /x/m.gguf"
        return "".join(path_tag(w) if i % 2 == 0 and is_local_path(w) else w for i, w in enumerate(parts))
    if isinstance(value, dict):
        return {k: scrub_paths(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_paths(v) for v in value]
    return value
