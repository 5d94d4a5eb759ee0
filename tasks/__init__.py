"""Task definitions as data (lm-eval YAML configs, task JSONL files, example audit configs).

Found both in a source checkout and in an installed wheel through :func:`tasks_dir`.
"""

from __future__ import annotations

from pathlib import Path


def tasks_dir() -> Path:
    """The folder holding the task files."""
    return Path(__file__).parent
