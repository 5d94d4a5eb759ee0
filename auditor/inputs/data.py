"""Load texts (with ids) from JSONL, CSV, Parquet, TXT or a Hugging Face dataset saved to disk.

Every failure is an :class:`~auditor.errors.InputError` whose message names the file, the
problem and the fix: a missing file, an unknown format, a missing column (listing the columns
there are), an empty set, non-string values, duplicate ids, text that is not UTF-8 (naming the line and
byte offset), a file that is not valid CSV or Parquet.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from auditor.errors import ConfigError, InputError

FORMATS = ("jsonl", "csv", "parquet", "txt", "hf")


@dataclass(frozen=True)
class TextSet:
    """Texts and their ids, in file order; ``dropped``: texts of the file left out after loading, by reason
    (e.g. :data:`auditor.inputs.overlap.SHARED`), which the records' ``skipped`` report."""

    ids: list[str]
    texts: list[str]
    source: str
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)


def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return "hf"
        raise InputError(f"{path} is a folder but not a dataset saved with datasets' save_to_disk")
    ext = path.suffix.lower()
    table = {
        ".jsonl": "jsonl",
        ".json": "jsonl",
        ".ndjson": "jsonl",
        ".csv": "csv",
        ".parquet": "parquet",
        ".txt": "txt",
    }
    if ext not in table:
        raise InputError(f"{path}: unknown file type {ext!r}; use .jsonl, .csv, .parquet, .txt or a saved HF dataset")
    return table[ext]


def read_utf8(path: str | Path, what: str = "file") -> str:
    """The text of a UTF-8 file (a leading BOM dropped); other bytes are an InputError naming the line and offset."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p} is a folder; give the {what} itself")
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise InputError(
            f"{p}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}){hint}; save the file as UTF-8"
        ) from e


def _lines(text: str) -> list[str]:
    """Lines split as a file opened in text mode splits them (\\n, \\r\\n or \\r; not U+2028 inside JSON)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def numbered_jsonl(path: Path) -> list[tuple[int, dict]]:
    """``(line number, row)`` for each non-blank line of a JSONL file; bad lines are errors naming the line."""
    out = []
    for n, line in enumerate(_lines(read_utf8(path, "JSONL file")), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{n}: not valid JSON ({e.msg}); write one JSON object per line") from e
        if not isinstance(row, dict):
            raise InputError(f"{path}:{n}: expected a JSON object per line, got {type(row).__name__}")
        out.append((n, row))
    return out


def _csv_rows(path: Path) -> list[dict]:
    reader = csv.DictReader(io.StringIO(read_utf8(path, "CSV file"), newline=""))
    try:
        rows = list(reader)
    except csv.Error as e:
        raise InputError(f"{path}:{reader.line_num}: not valid CSV ({e}); check the quoting on that line") from e
    for n, r in enumerate(rows):
        if None in r:  # DictReader files the extra fields under the key None
            raise InputError(
                f"{path}: data row {n + 1} has more fields than the header has columns; quote values that hold commas"
            )
    return rows


def _table_rows(path: Path, fmt: str) -> list[dict]:
    """Rows of a Parquet file or a saved HF dataset; unreadable ones are an InputError naming the path."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        import datasets

        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            split = "train" if "train" in ds else next(iter(ds))
            ds = ds[split]
        return ds.to_list()
    except (OSError, ValueError) as e:
        kind = "a Parquet file" if fmt == "parquet" else "a dataset saved with save_to_disk"
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"cannot read {path} as {kind} ({detail}); check the file") from e


def read_rows(path: str | Path, fmt: str | None = None) -> list[dict]:
    """All rows of a file as dicts (TXT: one ``{"text": line}`` per non-empty line)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"data file not found: {p}; check the path")
    fmt = fmt or detect_format(p)
    if fmt not in FORMATS:
        raise InputError(f"unknown data format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return [row for _, row in numbered_jsonl(p)]
    if fmt == "csv":
        return _csv_rows(p)
    if fmt == "txt":
        return [{"text": line} for line in _lines(read_utf8(p, "text file")) if line.strip()]
    return _table_rows(p, fmt)


def load_texts(
    path: str | Path,
    text_column: str = "text",
    id_column: str | None = "id",
    fmt: str | None = None,
    limit: int | None = None,
) -> TextSet:
    """Load texts and ids. Without an id column (or with ``id_column=None``) ids are row numbers."""
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1 (or left out for every text), got {limit}")
    rows = read_rows(path, fmt)
    if not rows:
        raise InputError(f"{path}: the data set is empty; give a file with at least one text")
    columns = sorted({str(k) for r in rows[:100] for k in r})
    if text_column not in rows[0]:
        raise InputError(
            f"{path}: no column {text_column!r}; columns are: {', '.join(columns)}. Choose one with --text-column"
        )
    use_ids = id_column is not None and id_column in rows[0]
    if id_column is not None and id_column != "id" and not use_ids:
        raise InputError(f"{path}: no id column {id_column!r}; columns are: {', '.join(columns)}")
    texts, ids = [], []
    for n, r in enumerate(rows):
        t = r.get(text_column)
        if not isinstance(t, str):
            raise InputError(f"{path}: row {n} has a {type(t).__name__} in column {text_column!r}, expected a string")
        texts.append(t)
        ids.append(str(r.get(id_column)) if use_ids else str(n))
    if use_ids:
        seen: set[str] = set()
        dups = sorted({i for i in ids if i in seen or seen.add(i)})
        if dups:
            raise InputError(f"{path}: duplicate ids in {id_column!r}: {', '.join(dups[:5])}; ids must be unique")
    if limit is not None:
        texts, ids = texts[:limit], ids[:limit]
    if not any(t.strip() for t in texts):
        raise InputError(f"{path}: every text in column {text_column!r} is empty")
    return TextSet(ids=ids, texts=texts, source=str(path))


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
