"""``auditor dupcount``: count how often each data row's span occurs in a training corpus, streamed.

The count (Kandpal et al. 2022, "Deduplicating training data mitigates privacy risks in language models";
Carlini et al. 2023, "Quantifying memorization across neural language models") is written as a column of
the rows, so ``extract`` / ``exposure`` break their results down by it through ``--repeats-column``.
Counting: :mod:`auditor.probes.extraction.dupcount`; the corpus read as a stream: :mod:`auditor.inputs.corpus_stream`.
Here: the flags, the data rows and the output.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.cli.common import add_command, csv_type, positive_int
from auditor.errors import ConfigError, InputError
from auditor.inputs.corpus_stream import Piece, corpus_pieces
from auditor.inputs.data import detect_format, read_rows
from auditor.store.runs import atomic_write_text

if TYPE_CHECKING:  # the probe's package imports transformers: loaded when the command runs, not for --help
    from auditor.probes.extraction.dupcount import CorpusStats, DupcountConfig

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- the corpus, counted


def count_in_files(
    spans: Sequence[str], paths: Sequence[str | Path], cfg: DupcountConfig
) -> tuple[list[int], CorpusStats]:
    """:func:`~auditor.probes.extraction.dupcount.count_spans` over corpus files, each checked before any is read."""
    from auditor.probes.extraction.dupcount import count_spans

    files = [Path(p).expanduser() for p in paths]
    for p in files:
        if not p.exists():
            raise InputError(f"corpus file not found: {p}; check --corpus")
        detect_format(p)
        if p.is_file() and p.stat().st_size == 0:
            raise InputError(f"corpus file {p} is empty (0 documents); give a corpus with at least one document")
    docs = dict.fromkeys(files, 0)

    def pieces() -> Iterator[Piece]:
        for p in files:
            for piece in corpus_pieces(p, cfg.text_column, cfg.block_chars):
                docs[p] += piece[0]
                yield piece

    counts, stats = count_spans(spans, pieces(), cfg)
    empty = [str(p) for p, n in docs.items() if not n]
    if empty:
        raise InputError(
            f"corpus file {empty[0]} holds no documents (0 non-blank texts); give a corpus with at least one document"
        )
    stats.files = len(files)
    return counts, stats


# ---------------------------------------------------------------- the data rows and the output


def data_spans(rows: list[dict], columns: Sequence[str], source: str) -> list[str]:
    """Each row's span: the values of ``columns`` joined (e.g. prefix + secret, as extraction reads them)."""
    have = ", ".join(sorted({str(k) for r in rows[:100] for k in r}))
    out = []
    for n, r in enumerate(rows):
        missing = next((c for c in columns if c not in r), None)
        if missing is not None:
            raise InputError(
                f"{source}: row {n} has no column {missing!r} (columns: {have}); name the span's columns with "
                "--target (e.g. --target prefix,secret)"
            )
        bad = next((c for c in columns if not isinstance(r[c], str)), None)
        if bad is not None:
            raise InputError(f"{source}: row {n} has a {type(r[bad]).__name__} in column {bad!r}, expected text")
        out.append("".join(r[c] for c in columns))
    return out


def check_column(rows: list[dict], column: str, target: Sequence[str], id_column: str, source: str) -> None:
    """``--column`` names a new column: not a span column, not the id column, none the data already has (its
    values would be overwritten)."""
    if not column or column in target:
        raise ConfigError(f"--column {column!r} must name a new column, not a span column; e.g. --column repeats")
    if column == id_column:
        raise ConfigError(
            f"--column {column!r} is the id column and the counts would replace the ids; give --column another name "
            "(e.g. --column dup_count)"
        )
    if any(column in r for r in rows):
        raise ConfigError(
            f"--column {column!r}: {source} already has that column and its values would be overwritten; "
            "give --column another name (e.g. --column dup_count)"
        )


def check_ids(rows: list[dict], id_column: str, source: str) -> None:
    """The ids in ``id_column`` (where rows have one) are unique: each count must name one row."""
    seen: set[str] = set()
    dups: set[str] = set()
    for r in rows:
        if id_column in r:
            key = str(r[id_column])
            (dups if key in seen else seen).add(key)
    if dups:
        shown = ", ".join(sorted(dups)[:5])
        raise InputError(f"{source}: duplicate ids in {id_column!r}: {shown}; ids must be unique (see --id-column)")


def write_rows_atomic(path: Path, rows: list[dict]) -> None:
    """JSONL written to a temporary file beside ``path``, then renamed over it: never a half-written file."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _check_out(out: Path, inputs: Sequence[Path], overwrite: bool) -> None:
    if out.suffix.lower() != ".jsonl":
        raise ConfigError(f"--out {out} must end in .jsonl (the rows are written as JSONL)")
    for p in inputs:
        if out.resolve() == p.resolve():
            raise ConfigError(f"--out {out} is an input file; pick another --out (the input is never overwritten)")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a .jsonl file")
    if out.exists() and not overwrite:
        raise ConfigError(f"--out {out} exists; pass --overwrite or pick another --out")


def summary(counts: list[int], ids: list[str], stats: CorpusStats, seconds: float) -> str:
    """The one-line report: rows, what was scanned, and the distribution of counts (power-of-two buckets)."""
    top = max(range(len(counts)), key=counts.__getitem__)
    buckets: dict[str, int] = {}
    for c in sorted(counts):
        lo = 1 << (c.bit_length() - 1) if c else 0
        key = str(c) if lo in (0, 1) else f"{lo}-{2 * lo - 1}"
        buckets[key] = buckets.get(key, 0) + 1
    dist = " ".join(f"{k}:{v}" for k, v in buckets.items())
    return (
        f"rows {len(counts)} | corpus {stats.files} file(s), {stats.docs} docs, {stats.chars} chars, "
        f"{stats.tokenized_docs} docs tokenized ({stats.tokens} tokens) | counts min {min(counts)} "
        f"median {statistics.median(counts):g} max {counts[top]} ({ids[top]}) | rows by count {dist} | {seconds:.1f} s"
    )


def cmd_dupcount(a: argparse.Namespace) -> int:
    from auditor.probes.extraction.dupcount import DupcountConfig

    cfg = DupcountConfig(ngram=a.ngram, chunk_tokens=a.chunk_tokens, text_column=a.text_column)
    cfg.validate()
    data, out = Path(a.data).expanduser(), Path(a.out).expanduser()
    _check_out(out, [data, *(Path(c).expanduser() for c in a.corpus)], a.overwrite)
    rows = read_rows(data)
    if not rows:
        raise InputError(f"data file {data} is empty; give a file with at least one row")
    target = a.target or [a.text_column]
    check_column(rows, a.column, target, a.id_column, str(data))
    check_ids(rows, a.id_column, str(data))
    spans = data_spans(rows, target, str(data))
    t0 = time.perf_counter()
    counts, stats = count_in_files(spans, a.corpus, cfg)
    write_rows_atomic(out, [{**r, a.column: c} for r, c in zip(rows, counts, strict=True)])
    ids = [str(r.get(a.id_column, f"row {n}")) for n, r in enumerate(rows)]
    print(summary(counts, ids, stats, time.perf_counter() - t0))
    print(f"wrote {out}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "dupcount",
        cmd_dupcount,
        help="count how often each data row's span occurs in a training corpus (duplication, streamed)",
        description="Memorization grows with duplication (Kandpal et al. 2022; Carlini et al. 2023). For each row "
        "of --data, counts the occurrences of its span (the --target columns joined; default the text) in the "
        "--corpus files, overlapping ones included, never across documents; tokens are words and punctuation "
        "marks (no model). The corpus is streamed, never held in memory. Writes the rows with the count in "
        "--column to --out (JSONL): give that file to `auditor extract --data` or `auditor exposure "
        "--canaries` and their --repeats-column breaks the results down by counted duplication (by_repeats).",
    )
    p.add_argument(
        "--corpus",
        action="append",
        required=True,
        metavar="FILE",
        help="a training corpus file: jsonl/csv/parquet, txt (a document per line) or HF dir; repeat",
    )
    p.add_argument("--data", required=True, help="the rows to count (jsonl/csv/parquet/txt/HF dir)")
    p.add_argument("--out", required=True, help="where to write the rows with their counts (.jsonl)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--text-column", default="text", help="column of the texts: corpus documents, and the span unless --target"
    )
    p.add_argument("--id-column", default="id", help="data column naming the rows (in the summary)")
    p.add_argument(
        "--target",
        type=csv_type(),
        metavar="COL[,COL]",
        help="data columns joined into the span, e.g. prefix,secret (default: --text-column)",
    )
    p.add_argument(
        "--column", default="repeats", help="the count's column in --out: a new one (not a column of --data)"
    )
    p.add_argument("--ngram", type=positive_int, default=8, help="anchor n-gram (speed only; counts are exact)")
    p.add_argument("--chunk-tokens", type=positive_int, default=1 << 20, help="corpus tokens hashed at a time")
