"""Progress of long loops, one design everywhere: a tqdm bar on a terminal, else periodic INFO log lines.

Use::

    with progress.bar(len(items), "MIA", unit="text", logger=log) as p:
        for unit in units:
            if done_before(unit):
                p.skip(len(unit))  # counted, but left out of the rate (a resumed run)
                continue
            ...
            p.update(len(unit))  # once per batch or unit, never per token (no host syncs of its own)

    for batch in progress.track(plan, "train", unit="step", logger=log):  # the same, as an iterable wrapper
        ...

What a block shows is decided when it starts:

* In a process other than the main one (:func:`auditor.store.parallel.is_main` false): nothing.
* A tqdm bar on stderr (count, rate, ETA, and a postfix such as the loss) when stderr is a terminal and
  the logger is enabled for INFO (the CLI's ``-q/--quiet`` sets WARNING, which hides it). While the
  outermost bar is up, log records to the console are printed above it (``logging_redirect_tqdm``).
* Otherwise periodic INFO lines, ``DESC: 512/2000 (26%) at 41.2 text/s, elapsed 12s, ETA 36s``: at
  most one every ``interval`` seconds (10) and every 10% of the total, whichever comes later, and a last
  one at the end if an earlier line was written or the block ran for ``interval`` seconds. None under
  ``--quiet``.
* Nesting (a teacher-forced pass inside an MIA unit): a block inside another shows its own bar below the
  outer one, which disappears when it ends (``leave=False``), at most :data:`MAX_BARS` bars deep; an
  inner block writes no log lines (only the outermost one does), so there is no storm of lines.

The environment variable ``MEMAUDIT_PROGRESS`` forces the choice: ``0`` (or ``off``/``false``/``no``)
turns progress off, bars and progress log lines both (other log lines stay); ``1`` (or ``on``/``true``/
``yes``) shows the bar even when stderr is not a terminal and whatever the log level, still only in the
main process. Unset (or any other value): automatic, as above.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import IO, Any, TypeVar

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

import auditor.store.parallel as parallel

T = TypeVar("T")

ENV = "MEMAUDIT_PROGRESS"
INTERVAL = 10.0  # seconds between log lines, at least
FRACTION = 0.1  # of the total between log lines, at least
MAX_BARS = 2  # bars shown at once (an outer one and one nested in it); deeper blocks show nothing

clock: Callable[[], float] = time.monotonic  # tests put a fake clock here
_log = logging.getLogger(__name__)
_state = threading.local()  # .depth: how many progress blocks are open on this thread


def forced() -> bool | None:
    """``MEMAUDIT_PROGRESS``: True (bar forced on), False (progress off) or None (automatic)."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    return None


def depth() -> int:
    """How many progress blocks are open around the caller (0: none)."""
    return getattr(_state, "depth", 0)


def mode(logger: logging.Logger, file: IO[str], level: int) -> str:
    """``"bar"``, ``"log"`` or ``"off"``: what a block opened now at nesting ``level`` shows."""
    force = forced()
    if force is False or not parallel.is_main():
        return "off"
    info = logger.isEnabledFor(logging.INFO)
    tty = bool(getattr(file, "isatty", lambda: False)())
    if level < MAX_BARS and (force or (tty and info)):
        return "bar"
    return "log" if level == 0 and info else "off"


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``2h07m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def format_rate(rate: float, unit: str) -> str:
    """``41.2 text/s``, ``1,234 tok/s``, or ``3.5 s/step`` below one per second."""
    if rate <= 0:
        return f"? {unit}/s"
    if rate < 1:
        return f"{1 / rate:.1f} s/{unit}"
    return f"{rate:,.1f} {unit}/s" if rate < 100 else f"{rate:,.0f} {unit}/s"


def _fmt_value(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class Progress:
    """One open progress block: counts what is done and shows it as :func:`bar` decided."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        how: str,
        logger: logging.Logger,
        interval: float,
        file: IO[str],
        level: int,
    ) -> None:
        self.total, self.desc, self.unit, self.mode = total, desc, unit, how
        self.logger, self.interval = logger, interval
        self.n = self.skipped = self.lines = 0
        self.postfix: dict[str, Any] = {}
        self.start = self._last_t = clock()
        self._last_n = 0
        self._bar: tqdm | None = None
        if how == "bar":
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                file=file,
                leave=level == 0,
                position=level,
                dynamic_ncols=True,
                delay=0.0 if level == 0 else 0.5,
            )

    def update(self, n: int = 1, **postfix: Any) -> None:
        """``n`` more done (a batch, a unit, a step); ``postfix`` (e.g. ``loss=2.31``) shown beside the count."""
        self.n += n
        if postfix:
            self.postfix.update(postfix)
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix({k: _fmt_value(v) for k, v in self.postfix.items()}, refresh=False)
            self._bar.update(n)
        elif self.mode == "log":
            self._maybe_log()

    def skip(self, n: int) -> None:
        """``n`` done earlier (resumed): counted, but not in the rate or the ETA."""
        self.n += n
        self.skipped += n
        self._last_n += n
        if self._bar is not None:
            b = self._bar
            b.n += n
            b.last_print_n += n  # tqdm's smoothed rate sees no step
            b.initial += n  # nor does its average rate
            b.refresh()

    def rate(self) -> float:
        """Items per second done in this block (skipped ones left out)."""
        return (self.n - self.skipped) / max(clock() - self.start, 1e-9)

    def line(self) -> str:
        """``DESC: n/total (pct) at rate, elapsed E, ETA T[, postfix]``."""
        elapsed, rate = clock() - self.start, self.rate()
        count = f"{self.n}/{self.total} ({100 * self.n / self.total:.0f}%)" if self.total else f"{self.n}"
        parts = [f"{self.desc}: {count} at {format_rate(rate, self.unit)}", f"elapsed {format_seconds(elapsed)}"]
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"ETA {format_seconds((self.total - self.n) / rate)}")
        parts += [f"{k} {_fmt_value(v)}" for k, v in self.postfix.items()]
        return ", ".join(parts)

    def _maybe_log(self) -> None:
        now = clock()
        if now - self._last_t < self.interval:
            return
        if self.total and self.n - self._last_n < FRACTION * self.total:
            return
        self._emit(now)

    def _emit(self, now: float) -> None:
        self.logger.info("%s", self.line())
        self._last_t, self._last_n = now, self.n
        self.lines += 1

    def close(self, finished: bool = True) -> None:
        """Close the bar, or write the last log line (when the block was long enough to have any)."""
        if self._bar is not None:
            self._bar.close()
            return
        now = clock()
        long = self.lines > 0 or now - self.start >= self.interval
        if self.mode == "log" and finished and long and self.n > self._last_n:
            self._emit(now)


@contextmanager
def bar(
    total: int | None,
    desc: str,
    unit: str = "it",
    *,
    logger: logging.Logger | None = None,
    interval: float | None = None,
    file: IO[str] | None = None,
) -> Iterator[Progress]:
    """A progress block over ``total`` items (None: unknown) named ``desc``; see the module docstring.

    ``logger``: where the log lines go (and whose level decides; default ``auditor.store.progress``);
    ``interval``: seconds between log lines (default :data:`INTERVAL`); ``file``: the bar's stream (stderr).
    """
    logger = logger or _log
    file = file if file is not None else sys.stderr
    level = depth()
    how = mode(logger, file, level)
    p = Progress(total, desc, unit, how, logger, INTERVAL if interval is None else interval, file, level)
    redirect: AbstractContextManager[Any] = logging_redirect_tqdm() if how == "bar" and level == 0 else nullcontext()
    _state.depth = level + 1
    finished = False
    try:
        with redirect:
            yield p
        finished = True
    finally:
        _state.depth = level
        p.close(finished)


def track(
    items: Iterable[T],
    desc: str,
    unit: str = "it",
    *,
    total: int | None = None,
    **kwargs: Any,
) -> Iterator[T]:
    """``items``, one at a time, inside a :func:`bar` that counts one per item (``total`` defaults to ``len``)."""
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    with bar(total, desc, unit, **kwargs) as p:
        for x in items:
            yield x
            p.update(1)
