"""Command-line flags as config overrides: ``key=value`` items, written so that YAML reads them back unchanged."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

import yaml

from auditor.errors import ConfigError


def batch_size_type(value: str) -> int | str:
    """``auto`` or a positive integer (kept as given; :func:`batch_size_arg` turns it into int | None)."""
    if value == "auto":
        return value
    try:
        b = int(value)
    except ValueError:
        b = 0
    if b < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {value!r}")
    return b


def batch_size_arg(value: int | str | None) -> int | None:
    """``--batch-size``: a positive integer, or ``auto`` / None (start large, halve on out-of-memory)."""
    if value is None or value == "auto":
        return None
    try:
        return int(batch_size_type(str(value)))
    except argparse.ArgumentTypeError as e:
        raise ConfigError(f"--batch-size {e}") from e


def yaml_value(value: Any) -> str:
    """``value`` written so that ``yaml.safe_load`` gives it back unchanged, and so ``--set`` (read with
    :class:`auditor.config.ConfigLoader`, which only drops safe_load's base-60 numbers) gives it back too."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(_yaml_item(v) for v in value) + "]"
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    text = str(value)
    return text if _round_trips(text, text) else json.dumps(text)


def _yaml_item(value: Any) -> str:
    if not isinstance(value, str):
        return yaml_value(value)
    return value if _round_trips(f"[{value}]", [value]) else json.dumps(value)


def _round_trips(raw: str, expected: Any) -> bool:
    try:
        return yaml.safe_load(raw) == expected
    except yaml.YAMLError:
        return False


def flag_overrides(a: argparse.Namespace, mapping: Iterable[tuple[str, str]]) -> list[str]:
    """``key=value`` for each (attribute, config key) whose flag was given; ``--batch-size auto`` -> null."""
    out = []
    for attr, key in mapping:
        value = getattr(a, attr, None)
        if value is None or value is False:
            continue  # not given: the config's value stands
        if attr == "batch_size":
            value = batch_size_arg(value)
        out.append(f"{key}={yaml_value(value)}")
    return out
