"""Typed errors. Each message says what was wrong and how to fix it; the CLI prints it in one line."""

from __future__ import annotations


class AuditorError(Exception):
    """Base class for errors caused by the user's input or environment (CLI exit code 2)."""


class InputError(AuditorError):
    """Bad data: a missing file or column, an empty set, wrong value types, duplicate ids."""


class ConfigError(AuditorError):
    """A bad option or configuration value."""


class ModelLoadError(AuditorError):
    """A checkpoint that cannot be found or loaded."""


class RunDirError(AuditorError):
    """A run directory that cannot be resumed (e.g. written by a different configuration)."""


class OutputError(AuditorError):
    """An output folder that must not be written: someone else's, the model's own, or locked by another run."""
