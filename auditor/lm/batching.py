"""The one batching policy of every forward pass: order, padding, input device, batch size and out-of-memory.

* Order: sequences are sorted by length, longest first (:func:`length_order`), and cut into consecutive
  batches, so rows of a batch have similar lengths and the widest batch runs first (an out-of-memory
  error shows up at once, not at the end of a long run).
* Padding: :func:`pad_batch` pads on the right (teacher-forced scoring) or on the left (decoding) and
  returns the 0/1 attention mask; with left padding, :func:`position_ids` come from the mask's
  cumulative sum, so a padded row sees the positions it would see alone.
* Device: inputs go to the device of the model's input embeddings (:func:`input_device`), which is the
  first shard of a ``device_map="auto"`` model (``next(model.parameters())`` need not be).
* Batch size: ``None`` means auto: start at the default for the kind of pass (:data:`AUTO_BATCH`:
  teacher-forced 16 on the CPU / 64 on an accelerator, decoding 32 / 128, exposure candidates
  256 / 1024) and halve on out-of-memory down to 1. A batch size the user set is an upper bound: it
  is never exceeded, and on out-of-memory it is halved too, with a logged warning (we chose finishing
  a long audit with smaller batches over failing it; the warning says what happened). Only a batch of
  one that does not fit re-raises the error.

Out-of-memory means ``torch.cuda.OutOfMemoryError`` (``torch.OutOfMemoryError`` in recent torch, which
MPS also raises) or an MPS ``RuntimeError`` whose message says the MPS backend is out of memory
(older torch); the caches of both backends are emptied before the retry.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)

# kind of pass -> (auto batch size on the CPU, on an accelerator)
AUTO_BATCH: dict[str, tuple[int, int]] = {
    "teacher_forced": (16, 64),
    "decoding": (32, 128),
    "candidates": (256, 1024),
}

OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {torch.cuda.OutOfMemoryError, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)}
)


def input_device(model: nn.Module) -> torch.device:
    """Where inputs go: the input embeddings' device (the first shard of a ``device_map`` model); for an
    offloaded embedding (weights on the meta device, brought in by accelerate's hook), the hook's
    execution device."""
    get = getattr(model, "get_input_embeddings", None)
    emb = get() if get is not None else None
    hooked = execution_device(emb) if emb is not None else None
    if hooked is not None:
        return hooked
    weight = getattr(emb, "weight", None)
    return weight.device if isinstance(weight, torch.Tensor) else next(model.parameters()).device


def execution_device(module: nn.Module) -> torch.device | None:
    """The device accelerate's hook on ``module`` runs it on (``device_map`` / offload), else None."""
    hook = getattr(module, "_hf_hook", None)
    for h in [hook, *getattr(hook, "hooks", [])]:  # a SequentialHook holds several
        dev = getattr(h, "execution_device", None)
        if dev is not None:
            return torch.device("cuda", dev) if isinstance(dev, int) else torch.device(dev)
    return None


def accepts(model: nn.Module, name: str) -> bool:
    """Whether ``model.forward`` names the keyword ``name`` in its signature."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False
    return name in params


def auto_batch_size(model: nn.Module, kind: str = "teacher_forced") -> int:
    """The starting batch size of ``batch_size=None`` for a kind of pass (see :data:`AUTO_BATCH`)."""
    cpu, accel = AUTO_BATCH[kind]
    return cpu if input_device(model).type == "cpu" else accel


def resolve_batch_size(batch_size: int | None, model: nn.Module, kind: str = "teacher_forced") -> int:
    """``batch_size`` if the user set one (at least 1), else the auto default for ``kind``."""
    if batch_size is None:
        return auto_batch_size(model, kind)
    return max(1, int(batch_size))


def length_order(lengths: Sequence[int], longest_first: bool = True) -> list[int]:
    """Indices sorted by length (stable), longest first by default."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i] if longest_first else lengths[i])


def pad_batch(
    seqs: Sequence[Sequence[int]], pad_id: int, device: str | torch.device | None = None, side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask), both (len(seqs), longest) long tensors on ``device``, padded on ``side``."""
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        o = width - len(s) if side == "left" else 0
        ids[r, o : o + len(s)] = torch.as_tensor(list(s), dtype=torch.long)
        mask[r, o : o + len(s)] = 1
    if device is not None:
        ids, mask = ids.to(device), mask.to(device)
    return ids, mask


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`pad_batch` with left padding (decoding)."""
    return pad_batch(seqs, pad_id, device, side="left")


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that ignore left padding: 0 at each row's first real token."""
    return (mask.cumsum(-1) - 1).clamp_min(0)


def is_oom(error: BaseException) -> bool:
    """Whether ``error`` is an accelerator out-of-memory error (CUDA, or MPS)."""
    if isinstance(error, OOM_ERRORS):
        return True
    return isinstance(error, RuntimeError) and "MPS backend out of memory" in str(error)


def free_cache() -> None:
    """Return cached accelerator memory to the allocator before a retry."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        torch.mps.empty_cache()


def run_batches(
    order: Sequence[int],
    step: Callable[[list[int]], None],
    batch_size: int,
    *,
    what: str = "forward pass",
    fit: Callable[[int, int], int] | None = None,
) -> int:
    """Call ``step`` on consecutive batches of ``order``, at most ``batch_size`` long, halving on out-of-memory.

    ``fit(start, stop)`` may shorten a batch (return a new ``stop`` in ``(start, stop]``), e.g. to keep
    one length per batch. ``step`` must write its results only once it has succeeded (a failed batch
    is run again, smaller). Returns the batch size that was used last.
    """
    bs, start, n = max(1, batch_size), 0, len(order)
    while start < n:
        stop = min(start + bs, n)
        if fit is not None:
            stop = fit(start, stop)
        try:
            step(list(order[start:stop]))
        except RuntimeError as e:
            if not is_oom(e) or stop - start == 1:
                raise
            bs = max(1, (stop - start) // 2)
            log.warning("out of accelerator memory in %s; retrying with batch size %d", what, bs)
        else:
            start = stop
            continue
        free_cache()  # outside the handler, so the failed batch's tensors (held by the traceback) are gone
    return bs
