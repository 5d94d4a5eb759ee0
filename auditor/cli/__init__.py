"""The ``auditor`` command line: one module per command group, shared flags in :mod:`auditor.cli.common`."""

from auditor.cli.main import main

__all__ = ["main"]
