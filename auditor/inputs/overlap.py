"""Two sets that must be told apart: the same file given for both is refused, and texts found in both are
either refused (:func:`refuse_shared`) or dropped from both, counted (:func:`drop_shared`).

Membership inference labels each text member or non-member; a text in both sets has no label, and the same
file given twice measures nothing. The unlearning comparison's holdout set is the MIA's non-members, so it
must not hold the forget set's texts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from auditor.errors import InputError
from auditor.inputs.data import TextSet

log = logging.getLogger(__name__)

SHARED = "in both members and non-members"  # the skipped reason of texts dropped by drop_shared


def same_file(a: str | Path | None, b: str | Path | None) -> bool:
    """Whether ``a`` and ``b`` name one existing file or folder (the same path, a link to it, or a hard link); a
    name that is no file (an in-memory set's label) is never the same file."""
    if not a or not b:
        return False
    try:
        return os.path.samefile(Path(a).expanduser(), Path(b).expanduser())
    except OSError:  # one does not exist: not a file
        return False


def refuse_same_file(a: str | Path | None, key_a: str, b: str | Path | None, key_b: str) -> None:
    """An InputError naming both keys when ``a`` and ``b`` are one file."""
    if same_file(a, b):
        raise InputError(f"{key_a} and {key_b} are the same file ({a}); give {key_b} texts that are not in {key_a}")


def _shown(ids: list[str]) -> str:
    return ", ".join(ids[:5]) + (f" ... ({len(ids)} in all)" if len(ids) > 5 else "")


def refuse_shared(a: TextSet, key_a: str, b: TextSet, key_b: str) -> None:
    """An InputError naming both keys (and the first ids of ``b``) when ``a`` and ``b`` share a text."""
    refuse_same_file(a.source, key_a, b.source, key_b)
    shared = set(a.texts) & set(b.texts)
    ids = [i for i, t in zip(b.ids, b.texts, strict=True) if t in shared]
    if ids:
        raise InputError(
            f"{key_a} and {key_b} share {len(ids)} text(s) ({key_b} ids: {_shown(ids)}); remove them from one"
        )


def _without(texts: TextSet, shared: set[str], reason: str) -> TextSet:
    keep = [(i, t) for i, t in zip(texts.ids, texts.texts, strict=True) if t not in shared]
    gone = len(texts) - len(keep)
    dropped = dict(texts.dropped) | ({reason: texts.dropped.get(reason, 0) + gone} if gone else {})
    return dataclasses.replace(texts, ids=[i for i, _ in keep], texts=[t for _, t in keep], dropped=dropped)


def drop_shared(members: TextSet, nonmembers: TextSet) -> tuple[TextSet, TextSet]:
    """``members`` and ``nonmembers`` without the texts found in both (they cannot be labelled), each set's
    ``dropped`` counting its own under :data:`SHARED`; one warning names how many. The same file for both, or a
    set left empty, is an InputError."""
    refuse_same_file(members.source, "members", nonmembers.source, "non-members")
    shared = set(members.texts) & set(nonmembers.texts)
    if not shared:
        return members, nonmembers
    m, n = _without(members, shared, SHARED), _without(nonmembers, shared, SHARED)
    gone = (len(members) - len(m), len(nonmembers) - len(n))
    if not len(m) or not len(n):
        which = "members" if not len(m) else "non-members"
        raise InputError(
            f"every one of the {which} ({members.source if which == 'members' else nonmembers.source}) is also in the "
            "other set; give members and non-members that differ"
        )
    log.warning(
        "%d text(s) are in both members (%s) and non-members (%s): dropped from both (%d member(s), "
        "%d non-member(s) not scored)",
        len(shared),
        members.source,
        nonmembers.source,
        *gone,
    )
    return m, n
