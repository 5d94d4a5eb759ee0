"""memaudit: audit what a language model has memorized, and what pruning does to it.

The Python API (:mod:`auditor.api`) mirrors the CLI and takes an already-loaded ``PreTrainedModel`` and
tokenizer: ``auditor.mia``, ``auditor.extract``, ``auditor.sweep``, ``auditor.audit``. They are imported on
first use so that ``auditor --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["audit", "extract", "mia", "sweep"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from auditor import api

        return getattr(api, name)
    raise AttributeError(f"module 'auditor' has no attribute {name!r}")
