"""Data parallelism through the process group ``accelerate launch`` (or ``torchrun``) starts.

``accelerate launch --multi_gpu --num_processes N -m auditor sweep ...`` runs N copies of the command,
one per GPU (without a GPU: N CPU processes on the gloo backend; accelerate's ``--cpu`` starts only one
unless MPI is set up). Each copy loads the model on its own device and walks the
same loop; where per-example work is done, :func:`shard_map` gives every process a strided share of the
items (``items[rank::N]``, as lm-eval does under ``accelerate launch``) and gathers the results back in
the original order on every process, so every process then holds the same rows and computes the same
aggregates. Only the main process writes files: :class:`auditor.store.runs.UnitLog` and
:class:`auditor.store.runs.RunDir` ask :func:`is_main`; a log is read by every process before any appends,
and each append is followed by a barrier, so every process sees the same units (resume works with any N:
units are keyed by example ids, never by rank).

Without a process group (a plain ``auditor ...`` call) every function here is the identity.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_local = threading.local()


def launched() -> bool:
    """Started by a launcher for more than one process (``WORLD_SIZE`` > 1 in the environment)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(cpu: bool | None = None) -> None:
    """Join the launcher's process group (accelerate's ``PartialState``: NCCL on GPUs, gloo with ``cpu``).
    A no-op unless :func:`launched`."""
    if not launched() or _dist_ready():
        return
    from accelerate import PartialState

    PartialState(cpu=bool(cpu))


def _dist_ready() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def world() -> int:
    if not launched() or not _dist_ready():
        return 1
    import torch.distributed as dist

    return dist.get_world_size()


def rank() -> int:
    if world() == 1:
        return 0
    import torch.distributed as dist

    return dist.get_rank()


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if world() > 1 else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world() > 1:
        import torch.distributed as dist

        dist.barrier()


def gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order, on every process (``[obj]`` without a process group)."""
    if world() == 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def shard_map(items: Sequence[T], fn: Callable[[list[T]], list[R]]) -> list[R]:
    """``fn(items)``, computed as ``fn(items[rank::N])`` on each of N processes and gathered back in the
    order of ``items`` on every process. ``fn`` must return one result per item, depending only on that
    item. A ``shard_map`` inside another one runs locally (its items are already a shard)."""
    items = list(items)
    n = world()
    if n == 1 or getattr(_local, "inside", False):
        return fn(items)
    share = items[rank() :: n]
    _local.inside = True
    try:
        mine = fn(share) if share else []  # fewer items than processes: nothing to run here
    finally:
        _local.inside = False
    if len(mine) != len(share):
        raise RuntimeError(f"shard_map: {len(mine)} results for {len(share)} items")
    parts = gather_objects(mine)
    return [parts[i % n][i // n] for i in range(len(items))]


@contextmanager
def run_locally() -> Iterator[None]:
    """Inside the block, :func:`shard_map` runs on this process's items alone, with no collective (as inside
    another ``shard_map``): for work one process does while the others wait elsewhere."""
    before = getattr(_local, "inside", False)
    _local.inside = True
    try:
        yield
    finally:
        _local.inside = before


@contextmanager
def main_first() -> Any:
    """The main process runs the block first (it creates folders and files); the others after it."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def broadcast_tensors(tensors: Sequence[Any]) -> None:
    """Overwrite each tensor in place with the main process's (pruning masks or weights computed on every
    process: the main one's win, so every process holds the same model even where GPU kernels are not
    deterministic). Boolean tensors travel as uint8."""
    if world() == 1:
        return
    import torch
    import torch.distributed as dist

    for t in tensors:
        if t.dtype == torch.bool:
            u = t.to(torch.uint8)
            dist.broadcast(u, src=0)
            t.copy_(u.bool())
        else:
            dist.broadcast(t, src=0)
