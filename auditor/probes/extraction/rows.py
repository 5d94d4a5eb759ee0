"""The rows extraction reads: every column kept (text, id, repeats, or a row's own prefix and suffix).

``auditor extract`` and the ``extraction`` section of an audit or sweep read their data the same way, so a
column the config names (``prefix_column``, ``suffix_column``, ``repeats_column``) is there in both.
"""

from __future__ import annotations

from auditor.errors import AuditorError, InputError
from auditor.inputs.data import read_rows


def read_data_rows(path: str, what: str) -> list[dict]:
    """Rows of a data file; any read failure becomes an InputError naming the file."""
    try:
        rows = read_rows(path)
    except AuditorError:
        raise
    except (OSError, ValueError) as e:  # e.g. a Parquet reader's own errors
        raise InputError(
            f"cannot read {what} {path}: {type(e).__name__}; give a readable JSONL, CSV, Parquet or TXT file "
            "(UTF-8) or a dataset saved with save_to_disk"
        ) from e
    if not rows:
        raise InputError(f"{what} {path} is empty; give a file with at least one row")
    return rows
