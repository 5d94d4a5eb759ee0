"""The ``auditor`` command line: the top-level parser, built from the command groups, and the dispatch.

Bad input (an :class:`~auditor.errors.AuditorError`, or a command line argparse rejects) prints one line
and exits 2, as does an OSError about a path the user gave (an output folder that cannot be written, a
folder where a file was expected); ``--debug`` shows the traceback. Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import auditor.cli.audit as audit
import auditor.cli.capability as capability
import auditor.cli.dupcount as dupcount
import auditor.cli.extract as extract
import auditor.cli.forecast as forecast
import auditor.cli.lab as lab
import auditor.cli.mia as mia
import auditor.cli.prune as prune
import auditor.cli.unlearn as unlearn
from auditor.cli.common import HelpFormatter, Parser, UsageError
from auditor.errors import AuditorError

# Each group module adds its subcommands with ``add_parsers(sub)``; the order here is the order in --help.
GROUPS = (audit, lab, mia, prune, extract, forecast, dupcount, capability, unlearn)  # audit, demo, report, gate first


def _version() -> str:
    try:
        return version("memaudit")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> Parser:
    p = Parser(
        prog="auditor",
        description="Audit what a language model has memorized, and what pruning does to it.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"memaudit {_version()}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(sub)
    return p


def _setup_logging(quiet: bool) -> None:
    if quiet:  # read by huggingface_hub (and so transformers) when they are imported: no "Loading weights" bars
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _track_calibration() -> None:
    """Progress of Wanda / SparseGPT calibration passes (auditor.pruning cannot import auditor.store.progress)."""
    from auditor.pruning import calibration
    from auditor.store import progress

    calibration.set_tracker(progress.bar)


def _join_process_group(a: argparse.Namespace) -> None:
    """Under ``accelerate launch`` / ``torchrun`` with N > 1 processes: join the group (gloo on CPU, NCCL on
    GPUs; :mod:`auditor.store.parallel`) and let only the main process speak: the others log errors only and
    print no table, "wrote" line, warning or progress bar (their stdout goes to the null device)."""
    from auditor.store import parallel

    if not parallel.launched():
        return
    import torch

    parallel.init(cpu=getattr(a, "device", None) == "cpu" or not torch.cuda.is_available())
    if not parallel.is_main():
        logging.getLogger().setLevel(logging.ERROR)  # one copy of warnings: the main process's
        warnings.simplefilter("ignore")  # library warnings (transformers' deprecations) once, from the main process
        os.environ["TQDM_DISABLE"] = "1"  # one progress bar per model load
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # transformers logs through its own handler, not the root logger
        hf_logging.disable_progress_bar()
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # for the life of this process


def one_line(message: object) -> str:
    """``message`` on one line (a multi-line message's lines joined with '; ')."""
    return "; ".join(x.strip() for x in str(message).splitlines() if x.strip())


def os_error_line(e: OSError, a: argparse.Namespace) -> str | None:
    """The one line for an OSError about a path, or None when it names no path (a bug: let it raise)."""
    if e.filename is None:
        return None
    path = Path(os.fsdecode(e.filename))
    if "out" in vars(a):
        fix = "pick a writable --out"
    elif getattr(a, "config", None):
        fix = "pick a writable out: in the config (or --set out=DIR)"
    else:
        fix = "make the folder writable, or copy it somewhere writable"
    target = path if path.exists() or not path.parent.exists() else path.parent  # a new file: its folder
    if isinstance(e, PermissionError) or e.errno == errno.EROFS:
        if path.exists() and not os.access(path, os.R_OK):
            return f"cannot read {path}: permission denied; make it readable"
        why = "read-only file system" if e.errno == errno.EROFS else "permission denied"
        return f"cannot write {target}: {why}; {fix}"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {target}: no space left (or over quota); free some space or {fix}"
    if isinstance(e, IsADirectoryError):
        return f"{path} is a folder where a file is expected; give a file"
    if isinstance(e, NotADirectoryError):
        return f"{path}: a part of the path is a file, not a folder; check the path"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        a = build_parser().parse_args(args)
    except UsageError as e:
        print(one_line(e), file=sys.stderr)
        return 2
    _setup_logging(a.quiet)
    try:
        _track_calibration()
        _join_process_group(a)
        return a.handler(a)
    except AuditorError as e:
        if a.debug:
            raise
        print(f"auditor: error: {one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        line = None if a.debug else os_error_line(e, a)
        if line is None:
            raise
        print(f"auditor: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("auditor: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
