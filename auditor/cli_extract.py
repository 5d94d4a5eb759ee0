"""Subcommands for extraction (wired into ``auditor.cli``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def add_parsers(sub: argparse._SubParsersAction, model_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's subcommands to ``sub``; ``model_args`` adds the shared --dtype/--device/... flags."""
