"""Redaction of memorized and extracted texts: a coarse length and a tag keyed with a per-report salt.

The report redacts by default (``build_document(run, redact=True)``); a caller passes ``redact=False`` only
for a report that stays with whoever may read the training data.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

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
