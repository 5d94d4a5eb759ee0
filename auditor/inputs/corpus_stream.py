"""A corpus read as a stream of documents, never whole: JSONL and CSV line by line, TXT in blocks of
characters (each non-blank line a document), Parquet and saved HF datasets in batches.

Documents come as pieces ``(starts a new document, text)``; a document longer than ``block_chars`` comes
in several pieces cut at whitespace, so a word is never split. Used to count duplication in a training
corpus (``auditor dupcount``) without holding it in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from auditor.errors import InputError
from auditor.inputs.data import detect_format

Piece = tuple[bool, str]  # (starts a new document, text)
_BATCH = 1024  # Parquet / HF dataset rows per batch


def split_long(text: str, limit: int) -> Iterator[str]:
    """``text`` in parts of about ``limit`` characters, cut only at whitespace (so never inside a token)."""
    start = 0
    while len(text) - start > limit:
        cut = start + limit
        while cut > start and not text[cut].isspace():
            cut -= 1
        if cut == start:  # no whitespace in the window: cut after the word that crosses it, if it ends
            cut = next((i for i in range(start + limit, len(text)) if text[i].isspace()), start)
            if cut == start:
                break
        yield text[start:cut]
        start = cut
    yield text[start:]


def _txt(path: Path, block: int) -> Iterator[Piece]:
    """TXT: each non-blank line a document, read ``block`` characters at a time (a long line in pieces)."""
    with open(path, encoding="utf-8-sig") as fh:
        rest, started = "", False  # started: the unfinished line ``rest`` has been handed out in part
        while chunk := fh.read(block):
            *lines, rest = (rest + chunk).split("\n")
            for line in lines:
                if started or line.strip():
                    yield not started, line
                started = False
            if len(rest) > block:
                *parts, rest = split_long(rest, block)
                for part in parts:
                    yield not started, part
                    started = True
        if started or rest.strip():
            yield not started, rest


def _records(path: Path, fmt: str) -> Iterator[tuple[str, dict]]:
    """(where, row) per row of a JSONL or CSV file, one line at a time."""
    with open(path, encoding="utf-8-sig", newline="" if fmt == "csv" else None) as fh:
        if fmt == "csv":
            reader = csv.DictReader(fh)
            yield from ((f"{path}:{reader.line_num}", row) for row in reader)
            return
        for n, line in enumerate(fh, 1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{n}: expected a JSON object per line, got {type(row).__name__}")
                yield f"{path}:{n}", row


def _table(path: Path, fmt: str, column: str) -> tuple[list[str], Iterator[list]]:
    """A Parquet file's or saved HF dataset's column names, and ``column`` in batches (never whole)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        return pf.schema_arrow.names, (b.column(0).to_pylist() for b in pf.iter_batches(_BATCH, columns=[column]))
    import datasets

    ds = datasets.load_from_disk(str(path))  # memory-mapped Arrow
    if isinstance(ds, datasets.DatasetDict):
        ds = ds["train" if "train" in ds else next(iter(ds))]
    return ds.column_names, (b[column] for b in ds.iter(batch_size=_BATCH))


def _texts(path: Path, fmt: str, column: str) -> Iterator[tuple[str, object]]:
    """(where, value of ``column``) per row of a JSONL, CSV or Parquet file or saved HF dataset."""
    hint = "name the corpus text column with --text-column"
    if fmt in ("jsonl", "csv"):
        for where, row in _records(path, fmt):
            if column not in row:
                raise InputError(f"{where}: no column {column!r} (columns: {', '.join(map(str, row))}); {hint}")
            yield where, row[column]
        return
    names, batches = _table(path, fmt, column)
    if column not in names:
        raise InputError(f"{path}: no column {column!r} (columns: {', '.join(names)}); {hint}")
    for b, values in enumerate(batches):
        yield from ((f"{path} row {b * _BATCH + i}", v) for i, v in enumerate(values))


def corpus_pieces(path: Path, text_column: str = "text", block_chars: int = 1 << 20) -> Iterator[Piece]:
    """One corpus file's documents as pieces, streamed; an unreadable file is an InputError naming it."""
    fmt = detect_format(path)
    try:
        if fmt == "txt":
            yield from _txt(path, block_chars)
            return
        for where, text in _texts(path, fmt, text_column):
            if not isinstance(text, str):
                raise InputError(f"{where} has a {type(text).__name__} in column {text_column!r}, expected text")
            yield from ((i == 0, part) for i, part in enumerate(split_long(text, block_chars)))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as e:
        detail = str(e).splitlines()[0]
        limit = f"CSV fields at most {csv.field_size_limit()} characters"
        raise InputError(f"cannot read corpus {path} ({type(e).__name__}: {detail}); check it (UTF-8, {limit})") from e
