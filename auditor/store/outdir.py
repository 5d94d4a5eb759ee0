"""Output folders: never write into, or delete, a folder this tool did not create; one writer at a time.

Every folder memaudit writes (a run directory, a lab, a pruned or unlearned checkpoint) carries a marker
file, ``.memaudit``, naming what it holds. :func:`check` is called before anything is written:

* an ``--out`` that is an existing *file* is refused;
* an ``--out`` that is, contains or lies inside a model folder being read is refused (a pruned checkpoint
  written over its own source, or a run directory holding the model it audits);
* a non-empty folder without the marker is refused, whatever the flags: it is the user's, not ours;
* a marked folder of another kind (a lab where a run directory is asked for) is refused;
* a marked folder of the same kind is resumed (run directories) or, with ``overwrite``, emptied whole.

:class:`FolderLock` holds an OS lock (``fcntl.flock``) on ``.memaudit.lock`` while a run writes its
folder; the kernel releases it when the process exits, killed or not, so a crash never leaves a stale
lock. A second writer gets one line naming the process that holds it. Readers (``report``, ``gate``) hold
a shared lock on the same file while they read (:func:`reading`): a folder being written is refused with one
line, never reported or judged half-written, and a writer does not start while a reader reads.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from auditor.errors import OutputError
from auditor.store.atomic import publish_modes

MARKER = ".memaudit"
LOCK = ".memaudit.lock"
KINDS = ("run", "lab", "checkpoint")


def marker_kind(folder: Path) -> str | None:
    """The kind written in ``folder``'s marker, or None if the folder is not ours."""
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def write_marker(folder: Path, kind: str) -> None:
    """Mark ``folder`` as written by memaudit (``kind``: run, lab or checkpoint)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = {"kind": kind, "tool": "memaudit", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (folder / MARKER).write_text(json.dumps(info) + "\n", encoding="utf-8")


def _related(out: Path, source: Path) -> str | None:
    out, source = out.resolve(), source.resolve()
    if out == source:
        return "is"
    if out in source.parents:
        return "contains"
    if source in out.parents:
        return "lies inside"
    return None


def clear(folder: Path) -> None:
    """Delete everything in a folder memaudit created (nested run folders and checkpoints included)."""
    if marker_kind(folder) is None:
        raise OutputError(f"{folder} was not created by memaudit; refusing to delete it")
    for child in folder.iterdir():
        if child.name == LOCK:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def check(
    out: str | Path,
    kind: str,
    *,
    resume: bool,
    overwrite: bool = False,
    sources: Iterable[str | Path] = (),
    flag: str = "--out",
) -> Path:
    """Raise :class:`OutputError` (one line) unless ``out`` may hold a ``kind`` output; changes nothing.

    ``resume``: a marked folder of the same kind may be reused as it is (a run directory resumes).
    ``overwrite``: a marked folder of the same kind may be emptied. ``sources``: folders being read
    (model checkpoints) that ``out`` must not be, contain or lie in.
    """
    p = Path(out).expanduser()
    if p.exists() and not p.is_dir():
        raise OutputError(f"{flag} {p} is an existing file; give a folder path (new, or one memaudit wrote)")
    for s in sources:
        src = Path(s).expanduser()
        how = _related(p, src) if src.exists() else None
        if how:
            raise OutputError(f"{flag} {p} {how} the model folder {src} that is read; pick another {flag}")
    if p.is_dir() and any(c.name != LOCK for c in p.iterdir()):
        found = marker_kind(p)
        if found is None:
            raise OutputError(
                f"{flag} {p} is a non-empty folder that memaudit did not create; pick a new or empty folder "
                "(nothing was changed)"
            )
        if found != kind:
            raise OutputError(f"{flag} {p} holds a memaudit {found}, not a {kind}; pick another {flag}")
        if not (overwrite or resume):
            raise OutputError(f"{flag} {p} already holds a memaudit {kind}; pass --overwrite to replace it")
    return p


@contextmanager
def staged(out: str | Path, kind: str) -> Iterator[Path]:
    """Write a whole output in a hidden folder next to ``out``, then mark it and move it into place.

    Call :func:`check` first (before any slow work). A reader never sees a half-written output; on an
    error the staging folder is removed. An old output at ``out`` is replaced only if it is ours and of
    the same kind (checked again here, in case the folder changed meanwhile).
    """
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        write_marker(tmp, kind)
        publish_modes(tmp)
        if out.exists():
            check(out, kind, resume=False, overwrite=True)  # ours, of this kind, and a folder
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class FolderLock:
    """An exclusive OS lock on ``folder/.memaudit.lock``, held until :meth:`release`, garbage collection
    of this object, or process exit.

    Re-entrant within one process (an audit opens its top folder, then resumes it; tests reopen runs):
    the same folder locked twice by this process shares one descriptor, counted.
    """

    _held: ClassVar[dict[Path, list[int]]] = {}  # resolved folder -> [fd, count]

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).resolve()
        if self.folder not in FolderLock._held:
            FolderLock._held[self.folder] = [_acquire(self.folder, folder), 0]
        FolderLock._held[self.folder][1] += 1
        self._finalizer = weakref.finalize(self, _release, self.folder)

    def release(self) -> None:
        self._finalizer()


def _acquire(resolved: Path, shown: str | Path) -> int:
    resolved.mkdir(parents=True, exist_ok=True)
    fd = os.open(resolved / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    if not _try_lock(fd):
        holder = _read_holder(fd)
        os.close(fd)
        raise OutputError(
            f"{shown} is in use by another memaudit process (last writer: {holder}); wait for it to finish "
            "or pick another --out"
        )
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')}".encode())
    return fd


def _release(folder: Path) -> None:
    held = FolderLock._held.get(folder)
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0:
        del FolderLock._held[folder]
        os.close(held[0])  # closing the descriptor drops the lock


def _try_lock(fd: int, shared: bool = False) -> bool:
    """A non-blocking exclusive (or, with ``shared``, shared) lock on ``fd``; False when another holds it."""
    if sys.platform == "win32":  # pragma: no cover - msvcrt locks a byte range instead
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown process"
    except OSError:
        return "unknown process"


@contextmanager
def reading(folder: str | Path) -> Iterator[None]:
    """Read ``folder`` under a shared lock: refused with one line while another process writes it.

    A folder this process writes (an audit reporting on itself) is read without another lock; a folder
    without a lock file was never written under one (nothing to wait for), and none is created in it."""
    resolved = Path(folder).resolve()
    path = resolved / LOCK
    if resolved in FolderLock._held or not path.is_file():
        yield
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if not _try_lock(fd, shared=True):
            raise OutputError(
                f"{folder} is being written by another memaudit process ({_read_holder(fd)}): a report or "
                "verdict now would rest on half a run; wait for it to finish, then run this again"
            )
        yield
    finally:
        os.close(fd)  # drops the shared lock
