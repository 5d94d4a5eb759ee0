"""Calibration inputs for activation-aware pruning: token rows, and per-layer input statistics via hooks.

Progress: :func:`collect_inputs` reports the rows of each batch it has run, to its ``on_batch`` callback
if one is given, else to a tracker installed with :func:`set_tracker` (this package cannot import the
auditor's progress module; the auditor installs ``auditor.store.progress.bar`` here), else to nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import torch
from torch import nn

from auditor.errors import InputError


class Tracker(Protocol):
    """``tracker(total, desc, unit=...)``: a context manager whose value has ``update(n)``, as
    ``auditor.store.progress.bar``."""

    def __call__(self, total: int | None, desc: str, unit: str = ...) -> AbstractContextManager[Any]: ...


_tracker: Tracker | None = None


def set_tracker(tracker: Tracker | None) -> None:
    """Install (or, with None, remove) the progress tracker of calibration passes without an ``on_batch``."""
    global _tracker
    _tracker = tracker


class _Callback:
    """Hands each batch's row count to ``fn`` (or to nobody)."""

    def __init__(self, fn: Callable[[int], None] | None = None) -> None:
        self.fn = fn

    def update(self, n: int = 1) -> None:
        if self.fn is not None:
            self.fn(n)


def _progress(total: int, on_batch: Callable[[int], None] | None) -> AbstractContextManager[Any]:
    """What counts the rows: ``on_batch``, else the installed tracker, else nothing."""
    if on_batch is None and _tracker is not None:
        return _tracker(total, "calibration inputs", unit="row")
    return nullcontext(_Callback(on_batch))


def calibration_rows(tokenizer, texts: list[str], n_samples: int, seq_len: int) -> list[list[int]]:
    """``n_samples`` rows of exactly ``seq_len`` tokens, cut from the texts joined by EOS."""
    if not texts:
        raise InputError("no calibration texts; give a data file with texts")
    sep = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream.extend(ids + sep)
        if len(stream) >= n_samples * seq_len:
            break
    rows = [stream[i : i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)][:n_samples]
    if not rows:
        raise InputError(
            f"calibration texts hold {len(stream)} tokens, fewer than seq_len={seq_len}; "
            "give more or longer texts, or lower seq_len"
        )
    return rows


@torch.no_grad()
def collect_inputs(
    model: nn.Module,
    modules: dict[str, nn.Module],
    rows: list[list[int]],
    update: Callable[[str, torch.Tensor], None],
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """Run the rows through ``model`` and call ``update(name, X)`` with each target layer's input
    (flattened to (tokens, in_features), float32); ``on_batch(n)`` after each batch of ``n`` rows."""
    device = next(model.parameters()).device
    handles = []
    for name, m in modules.items():

        def hook(_m, args, name=name):
            x = args[0]
            update(name, x.reshape(-1, x.shape[-1]).float())

        handles.append(m.register_forward_pre_hook(hook))
    try:
        with _progress(len(rows), on_batch) as p:
            for i in range(0, len(rows), batch_size):
                batch = rows[i : i + batch_size]
                model(input_ids=torch.tensor(batch, device=device))
                p.update(len(batch))  # once per batch; no host sync of its own
    finally:
        for h in handles:
            h.remove()
