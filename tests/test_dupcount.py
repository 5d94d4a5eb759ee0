"""``auditor dupcount``: exact, streamed span counts (Kandpal et al. 2022; Carlini et al. 2023).

The lab test rebuilds the shipped standard lab's training corpus with the lab's own generator and checks
that every canary is counted exactly as many times as the lab inserted it.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

import auditor.probes.extraction.dupcount as dc
from auditor.cli.dupcount import count_in_files
from auditor.cli.main import main
from auditor.lab.build import SHIPPED_DIR, load_lab_files, world_for

# Hand-checked corpus: each span's count is written beside it.
DOCS = ["a a a", "x a a", "a", "the cat sat. The cat sat.", "cat sat the dog", "b a", "x y."]
EXPECTED = {
    "a a": 3,  # overlapping: 2 in "a a a", 1 in "x a a"; never across documents ("x a a" | "a", "a" | ...)
    "a": 7,
    "cat sat": 3,
    "cat sat.": 2,
    "cat \t  sat": 3,  # whitespace only separates tokens
    "The cat sat": 1,  # case kept
    "sat. The cat sat.": 1,
    "ca": 0,  # token boundaries: "ca" is not in "cat"
    "the dog": 1,
    "dog cat": 0,  # absent
    "dog b": 0,  # never across documents: "... the dog" | "b a"
    "a x": 0,  # "b a" | "x y."
    "": 0,  # no tokens
}


def _brute(span: str, docs: list[str]) -> int:
    s = dc.tokens(span)
    if not s:
        return 0
    return sum(1 for d in docs for t in [dc.tokens(d)] for i in range(len(t) - len(s) + 1) if t[i : i + len(s)] == s)


def _whole(docs: list[str]) -> list[tuple[bool, str]]:
    return [(True, d) for d in docs]


@pytest.mark.parametrize("chunk_tokens", [1, 2, 3, 5, 1 << 20])
@pytest.mark.parametrize("ngram", [1, 2, 8])
def test_hand_checked_counts_for_any_chunk_and_anchor(ngram, chunk_tokens):
    cfg = dc.DupcountConfig(ngram=ngram, chunk_tokens=chunk_tokens, block_chars=4)
    counts, stats = dc.count_spans(list(EXPECTED), _whole(DOCS), cfg)
    assert dict(zip(EXPECTED, counts, strict=True)) == EXPECTED
    assert stats.docs == len(DOCS) and stats.chars == sum(map(len, DOCS))


def test_prefilter_only_skips_documents_that_cannot_hold_a_span(monkeypatch):
    spans = list(EXPECTED)
    with_filter, stats = dc.count_spans(spans, _whole(DOCS), dc.DupcountConfig())
    assert stats.tokenized_docs == len(DOCS) - 1  # "x y." holds no span's longest token: never tokenized
    monkeypatch.setattr(dc, "PREFILTER_KEYS", 0)  # more keys than the prefilter takes: every document tokenized
    without, stats = dc.count_spans(spans, _whole(DOCS), dc.DupcountConfig())
    assert without == with_filter and stats.tokenized_docs == len(DOCS)


def test_pieces_of_one_document_count_as_one_document():
    # "x a a" in three pieces (cut at whitespace): still one document, the occurrence across the pieces counts
    pieces = [(True, "a a a"), (True, "x a"), (False, " a"), (False, " a"), (True, "a")]
    counts, stats = dc.count_spans(["a a", "a a a"], pieces, dc.DupcountConfig(chunk_tokens=2))
    assert counts == [2 + 2, 1 + 1] and stats.docs == 3


def test_random_corpora_match_brute_force():
    rng = random.Random(0)
    words = ["a", "b", "c", ".", "dd", "ééé", "x,y"]
    for _ in range(60):
        docs = [" ".join(rng.choices(words, k=rng.randrange(25))) for _ in range(rng.randint(1, 6))]
        spans = [" ".join(rng.choices(words, k=rng.randrange(6))) for _ in range(8)]
        cfg = dc.DupcountConfig(ngram=rng.randint(1, 4), chunk_tokens=rng.choice([1, 3, 7, 1000]))
        assert dc.count_spans(spans, _whole(docs), cfg)[0] == [_brute(s, docs) for s in spans]


def _write(path: Path, docs: list[str]) -> Path:
    kind = path.suffix
    if kind == ".txt":
        path.write_text("\n".join(docs) + "\n\n", encoding="utf-8")
    elif kind == ".jsonl":
        path.write_text("".join(json.dumps({"id": i, "text": d}) + "\n" for i, d in enumerate(docs)), encoding="utf-8")
    elif kind == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([["id", "text"], *enumerate(docs)])
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"text": docs}), path)
    return path


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".csv", ".parquet"])
@pytest.mark.parametrize("block_chars", [1, 3, 1 << 20])
def test_corpus_files_are_streamed_in_blocks(tmp_path, suffix, block_chars):
    long_doc = " ".join(["x a a", "the cat sat."] * 40)  # one document far longer than a block
    docs = [*DOCS, long_doc]
    corpus = _write(tmp_path / f"corpus{suffix}", docs)
    cfg = dc.DupcountConfig(ngram=2, chunk_tokens=4, block_chars=block_chars)
    counts, stats = count_in_files(list(EXPECTED), [corpus], cfg)
    assert counts == [_brute(s, docs) for s in EXPECTED]
    assert stats.files == 1 and stats.docs == len(docs)


def test_shipped_lab_canaries_counted_as_inserted(tmp_path, capsys):
    """Every canary of the shipped standard lab occurs in its training corpus exactly ``repeats`` times."""
    world = world_for("standard", 0)  # the lab's own generator: train_docs are what train_model trained on
    lab = json.loads((SHIPPED_DIR / "lab.json").read_text(encoding="utf-8"))
    assert world.canaries == load_lab_files(SHIPPED_DIR)["canaries"]
    assert len(world.train_docs) == lab["sizes"]["train_documents"]
    corpus = tmp_path / "train.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"text": d}) + "\n" for d in world.train_docs)
    out = tmp_path / "canaries_counted.jsonl"
    argv = ["dupcount", "--corpus", str(corpus), "--data", str(SHIPPED_DIR / "canaries.jsonl"), "--out", str(out),
            "--target", "prefix,secret", "--column", "counted"]  # fmt: skip
    assert main(argv) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["counted"] for r in rows] == [c["repeats"] for c in world.canaries]
    assert [{k: v for k, v in r.items() if k != "counted"} for r in rows] == world.canaries
    line = capsys.readouterr().out.splitlines()[0]
    assert f"rows {len(rows)} " in line and f"{len(world.train_docs)} docs" in line and "max 128" in line


@pytest.fixture()
def small(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{i}", "text": s}) + "\n" for i, s in enumerate(EXPECTED)))
    return {"data": data, "corpus": _write(tmp_path / "corpus.txt", DOCS), "out": tmp_path / "out" / "rows.jsonl"}


def test_cli_writes_the_rows_with_their_counts(small, capsys):
    argv = ["dupcount", "--corpus", str(small["corpus"]), "--data", str(small["data"]), "--out", str(small["out"])]
    assert main(argv) == 0
    rows = [json.loads(line) for line in small["out"].read_text(encoding="utf-8").splitlines()]
    assert [(r["text"], r["repeats"]) for r in rows] == list(EXPECTED.items())
    assert [p.name for p in small["out"].parent.iterdir()] == ["rows.jsonl"]  # no temporary file left
    summary = capsys.readouterr().out.splitlines()[0]
    assert f"rows {len(EXPECTED)} " in summary and "max 7 (r1)" in summary
    assert main(argv) == 2  # the output exists: refused without --overwrite
    assert main([*argv, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--corpus": "missing.txt"}, "corpus file not found"),
        ({"--data": "empty.jsonl"}, "is empty"),
        ({"--target": "prefix,secret"}, "no column 'prefix'"),
        ({"--ngram": "0"}, "--ngram"),
        ({"--out": "data.jsonl"}, "is an input file"),
        ({"--out": "corpus.txt"}, "must end in .jsonl"),
        ({"--text-column": "body"}, "no column 'body'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(small, capsys, change, message):
    (small["data"].parent / "empty.jsonl").write_text("")
    before = small["data"].read_bytes()
    args = {"--corpus": str(small["corpus"]), "--data": str(small["data"]), "--out": str(small["out"])}
    args |= {k: str(small["data"].parent / v) if k in ("--corpus", "--data", "--out") else v for k, v in change.items()}
    assert main(["dupcount", *[x for kv in args.items() for x in kv]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert small["data"].read_bytes() == before
